using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// The registry's quantize job on real data: yolox_nano_416 calibrated on coco128 JPEGs stored as the fleet's hard
/// frames in PostgreSQL, with the project's quantizer at its defaults; the INT8 is compared with FP32 on held-out frames,
/// carries its lineage in a signed manifest, and the same inputs make the same file.
/// </summary>
[Collection(ModelDistributionCollection.Name)]
[Trait("Category", "ModelDistribution")]
public sealed class QuantizeJobTests(ModelDistributionFleet fixture)
{
    private async Task<JsonElement> Int8VariantAsync(string name, int version) =>
        (await fixture.Http.GetFromJsonAsync<JsonElement>(ModelDistributionFleet.Url($"api/models/{name}/{version}")))
            .GetProperty("variants").EnumerateArray().Single(variant => variant.GetProperty("precision").GetString() == "int8");

    [Fact]
    public async Task The_job_calibrates_on_stored_hard_frames_and_stores_a_report_with_the_version()
    {
        var job = fixture.Job;
        Assert.Equal(("succeeded", 100, "hard-frames", 8), (job.GetProperty("state").GetString(), job.GetProperty("percent").GetInt32(),
            job.GetProperty("calibrationSource").GetString(), job.GetProperty("calibrationFrames").GetInt32()));
        var heldOut = job.GetProperty("heldOutFrames").GetInt32();
        Assert.InRange(heldOut, 1, 4);
        Assert.Equal(fixture.Version, job.GetProperty("result").GetProperty("version").GetInt32());

        var int8 = await Int8VariantAsync(ModelDistributionFleet.ModelName, fixture.Version);
        var report = int8.GetProperty("report");
        var agreement = report.GetProperty("agreement");
        Assert.Equal(heldOut, agreement.GetProperty("heldOutFrames").GetInt32());
        Assert.True(agreement.GetProperty("fp32Boxes").GetInt32() > 0, "the held-out coco128 frames should hold objects FP32 finds");
        Assert.InRange(agreement.GetProperty("precision").GetDouble(), 0.5, 1.0);
        Assert.InRange(agreement.GetProperty("recall").GetDouble(), 0.5, 1.0);
        Assert.True(report.GetProperty("latency").GetProperty("fp32P50Ms").GetDouble() > 0);
        Assert.True(report.GetProperty("latency").GetProperty("int8P50Ms").GetDouble() > 0);
        var size = report.GetProperty("size");
        Assert.Equal(new FileInfo(SharedData.YoloxNano416).Length, size.GetProperty("fp32Bytes").GetInt64());
        Assert.Equal(int8.GetProperty("sizeBytes").GetInt64(), size.GetProperty("int8Bytes").GetInt64());
        Assert.True(size.GetProperty("ratio").GetDouble() < 0.5, $"INT8 should be well under half of FP32; ratio {size.GetProperty("ratio").GetDouble()}");
        Assert.Equal(fixture.Int8Sha256, report.GetProperty("quantizer").GetProperty("int8Sha256").GetString());
    }

    [Fact]
    public async Task The_int8_manifest_names_its_parent_frames_and_settings_and_the_file_runs_with_it()
    {
        var int8 = await Int8VariantAsync(ModelDistributionFleet.ModelName, fixture.Version);
        var manifest = ModelManifest.Parse(Encoding.UTF8.GetBytes(int8.GetProperty("manifest").GetRawText()));
        var lineage = manifest.Lineage!;

        Assert.Equal(("int8", fixture.Int8Sha256), (manifest.Precision, manifest.Model.Sha256));
        Assert.Equal(fixture.Fp32Sha256, lineage.ParentSha256);
        Assert.Equal($"{ModelDistributionFleet.ModelName}@{fixture.Version}", lineage.ParentVersion);
        Assert.Equal("yolofleet-quantizer", lineage.Tool);
        Assert.Contains("calibrationFrames=8", lineage.Settings!);
        Assert.Equal(("hard-frames", 8), (lineage.Calibration!.Source, lineage.Calibration.Frames));
        Assert.All(lineage.Calibration.FrameIds!, id => Assert.Contains(id, fixture.SeededFrameIds));

        // The frames' hash is over the JPEGs actually stored, in the order named.
        var hashes = new StringBuilder();
        foreach (var id in lineage.Calibration.FrameIds!)
        {
            var sequence = long.Parse(id[(id.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            var jpeg = (await fixture.QueryAsync($"SELECT jpeg FROM hard_frames WHERE device_id = '{ModelDistributionFleet.HardFrameDevice}' AND sequence = {sequence}", r => (byte[])r[0])).Single();
            hashes.Append(Convert.ToHexStringLower(SHA256.HashData(jpeg))).Append('\n');
        }

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(hashes.ToString()))), lineage.Calibration.FramesSha256);

        // The stored file is the one the manifest names, and the real detector runs it with that manifest.
        var store = (FileSystemArtifactStore)fixture.Service<IArtifactStore>();
        var path = store.PathOf(fixture.Int8Sha256);
        Assert.Null(ManifestTrust.VerifyFile(manifest, path));
        using var detector = Detector.Open(path, manifest: manifest with { Model = manifest.Model with { File = Path.GetFileName(path) } });
        using var image = ImageFile.Read(Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal).First());
        Assert.NotEmpty(detector.Detect(image));
    }

    [Fact]
    public async Task Asking_again_with_the_same_inputs_finds_the_same_job()
    {
        using var again = await fixture.Http.PostAsync(ModelDistributionFleet.Url($"api/models/{ModelDistributionFleet.ModelName}/{fixture.Version}/quantize"), null);
        var job = await ModelDistributionFleet.ReadJsonAsync(again, HttpStatusCode.OK);

        Assert.Equal(fixture.Job.GetProperty("id").GetInt64(), job.GetProperty("id").GetInt64());
        Assert.Equal(fixture.Job.GetProperty("inputsKey").GetString(), job.GetProperty("inputsKey").GetString());
        Assert.Single(await fixture.QueryAsync("SELECT id FROM model_jobs WHERE model_name = 'yolox_nano_416'", r => r.GetInt64(0)));
    }

    [Fact]
    public async Task The_same_parent_frames_and_settings_make_the_same_int8_file()
    {
        // The same FP32 bytes under another name: a job of its own (another version), run from scratch on the same frames.
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(ModelDistributionFleet.ManifestPath))!.AsObject();
        manifest["name"] = "yolox-determinism";
        var version = await ModelDistributionFleet.ReadJsonAsync(await fixture.UploadAsync(SharedData.YoloxNano416, manifest.ToJsonString()), HttpStatusCode.Created);
        using var submitted = await fixture.Http.PostAsync(ModelDistributionFleet.Url($"api/models/yolox-determinism/{version.GetProperty("version").GetInt32()}/quantize"), null);
        var job = await ModelDistributionFleet.ReadJsonAsync(submitted, HttpStatusCode.Accepted);
        Assert.NotEqual(fixture.Job.GetProperty("id").GetInt64(), job.GetProperty("id").GetInt64());

        var done = await fixture.WaitForJobAsync(job.GetProperty("id").GetInt64(), TimeSpan.FromMinutes(10));

        Assert.Equal(fixture.Int8Sha256, done.GetProperty("result").GetProperty("sha256").GetString());
        Assert.Equal(
            (await Int8VariantAsync(ModelDistributionFleet.ModelName, fixture.Version)).GetProperty("manifest").GetProperty("lineage").GetProperty("calibration").GetProperty("framesSha256").GetString(),
            (await Int8VariantAsync("yolox-determinism", 1)).GetProperty("manifest").GetProperty("lineage").GetProperty("calibration").GetProperty("framesSha256").GetString());
    }
}
