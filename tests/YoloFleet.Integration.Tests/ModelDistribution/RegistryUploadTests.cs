using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// Uploading FP32 models to the registry through the silo's API, against the real detector and PostgreSQL: versions,
/// idempotent repeats, refusals that carry the detector's own message, and signatures agents can check.
/// </summary>
[Collection(ModelDistributionCollection.Name)]
[Trait("Category", "ModelDistribution")]
public sealed class RegistryUploadTests(ModelDistributionFleet fixture)
{
    private static string Manifest(string name, Action<JsonObject>? change = null)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(ModelDistributionFleet.ManifestPath))!.AsObject();
        manifest["name"] = name;
        change?.Invoke(manifest);
        return manifest.ToJsonString();
    }

    [Fact]
    public async Task Versions_count_up_per_name_and_repeating_an_upload_finds_the_stored_version()
    {
        var name = "upload-" + Guid.NewGuid().ToString("N")[..6];

        var first = await ModelDistributionFleet.ReadJsonAsync(await fixture.UploadAsync(SharedData.YoloxNano416, Manifest(name)), HttpStatusCode.Created);
        var repeat = await ModelDistributionFleet.ReadJsonAsync(await fixture.UploadAsync(SharedData.YoloxNano416, Manifest(name)), HttpStatusCode.OK);
        var changed = await ModelDistributionFleet.ReadJsonAsync(
            await fixture.UploadAsync(SharedData.YoloxNano416, Manifest(name, m => m["thresholds"]!["confidence"] = 0.3)), HttpStatusCode.Created);

        Assert.Equal((1, 1, 2), (first.GetProperty("version").GetInt32(), repeat.GetProperty("version").GetInt32(), changed.GetProperty("version").GetInt32()));
        var fp32 = first.GetProperty("variants").EnumerateArray().Single();
        Assert.Equal("fp32", fp32.GetProperty("precision").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(SharedData.YoloxNano416))), fp32.GetProperty("sha256").GetString());
        Assert.Equal(new FileInfo(SharedData.YoloxNano416).Length, fp32.GetProperty("sizeBytes").GetInt64());

        // The registry's version and file name replace what the uploaded manifest said.
        var manifest = fp32.GetProperty("manifest");
        Assert.Equal(("1", $"{name}-1-fp32.onnx", "fp32"), (manifest.GetProperty("version").GetString(), manifest.GetProperty("model").GetProperty("file").GetString(), manifest.GetProperty("precision").GetString()));

        var listed = await fixture.Http.GetFromJsonAsync<JsonElement>("api/models/" + name);
        Assert.Equal([2, 1], listed.GetProperty("items").EnumerateArray().Select(version => version.GetProperty("version").GetInt32()));
        Assert.Equal(2, (await fixture.QueryAsync($"SELECT count(*) FROM models WHERE name = '{name}'", r => r.GetInt64(0))).Single());
    }

    [Theory]
    [InlineData("layout", "layout is 'picodet-gfl', but the outputs")]
    [InlineData("class-names", "classNames")]
    [InlineData("input", "input is 320 x 320")]
    [InlineData("hash", "written for another file")]
    [InlineData("precision", "upload the FP32 model")]
    [InlineData("not-json", "not valid JSON")]
    public async Task A_model_that_contradicts_its_manifest_is_refused_with_the_detectors_message(string contradiction, string expected)
    {
        var name = "bad-" + contradiction;
        var manifest = contradiction switch
        {
            "layout" => Manifest(name, m => m["layout"] = "picodet-gfl"),
            "class-names" => Manifest(name, m => m["classNames"] = new JsonArray("cat", "dog")),
            "input" => Manifest(name, m => m["input"] = new JsonObject { ["width"] = 320, ["height"] = 320 }),
            "hash" => Manifest(name, m => m["model"]!["sha256"] = new string('0', 64)),
            "precision" => Manifest(name, m => m["precision"] = "int8"),
            _ => "{ \"name\": ",
        };

        using var response = await fixture.UploadAsync(SharedData.YoloxNano416, manifest);
        var problem = await ModelDistributionFleet.ReadJsonAsync(response, HttpStatusCode.BadRequest);
        var detail = problem.GetProperty("detail").GetString()!;

        Assert.Contains(expected, detail, StringComparison.Ordinal);
        Assert.DoesNotContain("yolofleet-upload-", detail, StringComparison.Ordinal);
        Assert.Empty(await fixture.QueryAsync($"SELECT id FROM models WHERE name = '{name}'", r => r.GetInt64(0)));
    }

    [Fact]
    public async Task Uploads_need_an_operator_key_and_both_parts()
    {
        using var anonymous = new HttpClient { BaseAddress = fixture.Http.BaseAddress };
        using var form = new MultipartFormDataContent { { new StringContent(Manifest("nokey")), "manifest" } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("api/models", form)).StatusCode);

        using var noModel = new MultipartFormDataContent { { new StringContent(Manifest("nomodel")), "manifest" } };
        var problem = await ModelDistributionFleet.ReadJsonAsync(await fixture.Http.PostAsync("api/models", noModel), HttpStatusCode.BadRequest);
        Assert.Contains("'model'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_variant_is_signed_by_the_published_key_and_a_changed_manifest_no_longer_verifies()
    {
        var key = await fixture.Http.GetFromJsonAsync<JsonElement>("api/signing-key");
        using var trust = new ManifestTrust([key.GetProperty("publicKeyPem").GetString()!]);
        Assert.Equal(key.GetProperty("keyId").GetString(), trust.KeyIds.Single());
        Assert.True(File.Exists(key.GetProperty("publicKeyFile").GetString()));

        var version = await fixture.Http.GetFromJsonAsync<JsonElement>(ModelDistributionFleet.Url($"api/models/{ModelDistributionFleet.ModelName}/{fixture.Version}"));
        var variants = version.GetProperty("variants").EnumerateArray().ToList();
        Assert.Equal(["fp32", "int8"], variants.Select(variant => variant.GetProperty("precision").GetString()));
        foreach (var variant in variants)
        {
            var json = Encoding.UTF8.GetBytes(variant.GetProperty("manifest").GetRawText());
            Assert.Null(trust.Verify(json, out var manifest));
            Assert.Equal(variant.GetProperty("sha256").GetString(), manifest!.Model.Sha256);
            Assert.Equal(variant.GetProperty("signingKeyId").GetString(), manifest.Signature!.KeyId);

            var tampered = manifest with { Thresholds = (manifest.Thresholds ?? new ManifestThresholds()) with { Confidence = 0.01f } };
            Assert.Equal(ManifestRejection.BadSignature, trust.Verify(tampered)!.Code);
        }
    }
}
