using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Security;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;
using YoloFleet.Integration.Tests.ModelDistribution;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Integration.Tests.Rollout;

/// <summary>
/// One cloud for the rollout tests: a fresh migrated database, a silo on the real mosquitto with the real FP32 verifier
/// (yolox_nano_416) and rollouts evaluated every half second, and two versions of one model: yolox_nano_416 as the
/// baseline (version 1) and picodet_s_416 as the candidate (version 2), so the two have different hashes. The silo can
/// be restarted on the same database and broker (<see cref="RestartAsync"/>).
/// </summary>
public sealed class RolloutFleet : IAsyncLifetime
{
    public const string ModelName = "ro-detector";

    /// <summary>
    /// The model of the rollouts with real agents: picodet_s_416 as the baseline (version 1) and yolox_nano_416, the FP32
    /// verifier's own model, as the candidate (version 2). A real agent on the candidate agrees with the verifier up to
    /// its JPEG round trip, so a good candidate is good on real inference too.
    /// </summary>
    public const string RealModelName = "ro-real-detector";

    /// <summary>
    /// The model of the rollout over mixed hardware: yolox_nano_416 (version 1) and picodet_s_416 (version 2) with an INT8
    /// variant beside its FP32, so that each device's benchmarks choose between them.
    /// </summary>
    public const string HardwareModelName = "ro-hw-detector";

    private static readonly (string Key, string Hash) ApiKey = ApiKeys.Mint();

    /// <summary>The operator key the silo accepts (for the CLI, which takes it as --api-key).</summary>
    public static string OperatorKey => ApiKey.Key;

    private readonly PostgresDatabase _database = new();

    /// <summary>
    /// The silo's state directory (the manifest signing key, the artifacts), kept across <see cref="RestartAsync"/>: the stored manifests are signed once at upload, so
    /// a restarted silo must keep the key that real agents pin (as a production silo keeps its key file).
    /// </summary>
    private readonly string _stateFolder = Directory.CreateTempSubdirectory("yf-ro-silo-state-").FullName;

    public LocalFleet Fleet { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string BaselineSha256 { get; private set; } = "";

    public string CandidateSha256 { get; private set; } = "";

    /// <summary>Version 2 of <see cref="HardwareModelName"/>: its FP32 (picodet_s_416) and INT8 hashes.</summary>
    public (string Fp32, string Int8) HardwareCandidate { get; private set; }

    /// <summary>picodet_s_416, version 1 of <see cref="RealModelName"/>.</summary>
    public string RealBaselineSha256 { get; private set; } = "";

    /// <summary>yolox_nano_416, version 2 of <see cref="RealModelName"/>.</summary>
    public string RealCandidateSha256 { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await TestServices.RequireMosquittoAsync();
        await _database.InitializeAsync();
        await StartSiloAsync();
        BaselineSha256 = await UploadAsync(ModelName, SharedData.YoloxNano416, "yolox_nano_416.onnx.manifest.json", 1);
        CandidateSha256 = await UploadAsync(ModelName, SharedData.PicoDetS416, "picodet_s_416_coco.onnx.manifest.json", 2);
        RealBaselineSha256 = await UploadAsync(RealModelName, SharedData.PicoDetS416, "picodet_s_416_coco.onnx.manifest.json", 1);
        RealCandidateSha256 = await UploadAsync(RealModelName, SharedData.YoloxNano416, "yolox_nano_416.onnx.manifest.json", 2);
        await UploadAsync(HardwareModelName, SharedData.YoloxNano416, "yolox_nano_416.onnx.manifest.json", 1);
        HardwareCandidate = (await UploadAsync(HardwareModelName, SharedData.PicoDetS416, "picodet_s_416_coco.onnx.manifest.json", 2), await AddInt8Async(HardwareModelName, 2, SharedData.PicoDetS416));
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Fleet is not null)
        {
            await Fleet.DisposeAsync();
        }

        await _database.DisposeAsync();
        Directory.Delete(_stateFolder, recursive: true);
    }

    /// <summary>Stops the silo (every grain activation and timer with it) and starts a new one on the same database and broker.</summary>
    public async Task RestartAsync()
    {
        Http.Dispose();
        await Fleet.DisposeAsync();
        await StartSiloAsync();
    }

    public Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map) => _database.QueryAsync(sql, map);

    /// <summary>Registers <paramref name="count"/> devices in a new group; returns the group and the ids.</summary>
    public async Task<(string Group, IReadOnlyList<string> Devices)> RegisterGroupAsync(string prefix, int count)
    {
        var group = prefix + "-" + Guid.NewGuid().ToString("N")[..6];
        var devices = Enumerable.Range(0, count).Select(i => $"{group}-{i:D2}").ToList();
        await RegisterDevicesAsync(group, devices);
        return (group, devices);
    }

    /// <summary>Registers the devices, active, in <paramref name="group"/>.</summary>
    public async Task RegisterDevicesAsync(string group, IEnumerable<string> devices)
    {
        foreach (var device in devices)
        {
            using var response = await Http.PostAsJsonAsync("api/devices", new { deviceId = device, displayName = "", status = "active", group });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            await Fleet.RegisterDeviceAsync(device, CancellationToken.None);
        }
    }

    public async Task<JsonElement> PostAsync(string path, object? body, HttpStatusCode expected)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        return await ModelDistributionFleet.ReadJsonAsync(response, expected);
    }

    public async Task<JsonElement> GetAsync(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Http.GetAsync(path);
        return await ModelDistributionFleet.ReadJsonAsync(response, expected);
    }

    private async Task StartSiloAsync()
    {
        Fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            externalBroker: TestServices.Mosquitto,
            extraSettings:
            [
                new("Cloud:Api:KeyHashes:0", ApiKey.Hash),
                new("Cloud:Verifier:ModelPath", SharedData.YoloxNano416),
                new("Cloud:Verifier:Workers", "1"),
                new("Cloud:Verifier:QueueCapacity", "256"),
                new("Cloud:Rollout:EvaluationInterval", "00:00:00.500"),
                new("Cloud:Rollout:KeeperInterval", "00:00:01"),
                new("Cloud:StateDirectory", _stateFolder),
            ]);
        Http = new HttpClient { BaseAddress = new Uri(Fleet.HttpAddress), Timeout = TimeSpan.FromMinutes(2) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey.Key);
    }

    private async Task<string> UploadAsync(string name, string modelPath, string manifestFile, int expectedVersion)
    {
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "models", "manifests", manifestFile)))!.AsObject();
        manifest["name"] = name;
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(manifest.ToJsonString()), "manifest");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(modelPath)), "model", Path.GetFileName(modelPath));
        using var response = await Http.PostAsync("api/models", form);
        var version = await ModelDistributionFleet.ReadJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal(expectedVersion, version.GetProperty("version").GetInt32());
        return version.GetProperty("variants")[0].GetProperty("sha256").GetString()!;
    }

    /// <summary>
    /// A real INT8 variant of the version, registered through the artifact store, model store and signer a quantize job
    /// uses, without the job (whose accuracy guard and latency rounds take minutes on 2 cores; the job itself is tested in
    /// QuantizeJobTests): the project's quantizer on the FP32 file, calibrated on 8 coco128 images, without the
    /// sensitivity analysis (simulated devices never run it; a real agent could). Returns its hash.
    /// </summary>
    private async Task<string> AddInt8Async(string name, int version, string fp32Path)
    {
        var store = Fleet.CloudServices.GetRequiredService<ModelStore>();
        var registry = Fleet.CloudServices.GetRequiredService<ModelRegistry>();
        var artifacts = Fleet.CloudServices.GetRequiredService<IArtifactStore>();
        var fp32 = await store.FindAsync(name, version, ModelStore.Fp32) ?? throw new InvalidOperationException($"{name} {version} has no FP32 variant");
        var int8Path = Path.Combine(_stateFolder, $"{name}-{version}-int8.onnx");
        using (var calibration = new ImageFolderCalibrationSet(fp32Path, SharedData.Coco128Images, 8))
        {
            var quantized = ModelQuantizer.Quantize(OnnxModelFile.Load(fp32Path), calibration, new QuantizerOptions { AutoExclude = false, ComparisonSamples = 1 });
            OnnxModelFile.Save(quantized.Model, int8Path);
        }

        // A model that runs and finds things, not bytes standing in for one.
        using (var detector = Detector.Open(int8Path))
        using (var image = ImageFile.Read(Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal).First()))
        {
            Assert.NotEmpty(detector.Detect(image));
        }

        StoredArtifact stored;
        await using (var file = File.OpenRead(int8Path))
        {
            stored = await artifacts.PutAsync(file);
        }

        File.Delete(int8Path);
        var manifest = ModelManifest.Parse(Encoding.UTF8.GetBytes(fp32.ManifestJson), $"{name} {version} fp32") with { Signature = null };
        var int8 = await store.InsertInt8Async(fp32, stored.Sha256, stored.SizeBytes, jobId: 0, reportJson: "{}", v => (
            registry.Sign(manifest with
            {
                Precision = ModelStore.Int8,
                Model = manifest.Model with { File = ModelRegistry.FileNameOf(name, v, ModelStore.Int8), Sha256 = stored.Sha256, SizeBytes = stored.SizeBytes },
            }),
            registry.Sign(manifest)));
        Assert.Equal(version, int8.Version);
        Assert.True(stored.SizeBytes < new FileInfo(fp32Path).Length, "the INT8 file is smaller than its FP32");
        return stored.Sha256;
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "YoloFleet.sln")))
            {
                return folder.FullName;
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class RolloutCollection : ICollectionFixture<RolloutFleet>
{
    public const string Name = "rollout";
}
