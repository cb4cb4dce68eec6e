using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using YoloFleet.Cli;
using YoloFleet.Cloud.Net;
using YoloFleet.Cloud.Security;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// The whole loop through the real cloud with a real agent process: a device publishes its hard frames (coco128 JPEGs
/// it ran on) over the real broker and the cloud stores them; an operator uploads PicoDet-S 320 FP32 with its manifest;
/// the quantize job calibrates on those stored frames; the assignment carries both signed variants; the agent downloads
/// them through a relay that drops the connection once mid-file, resumes, verifies, benchmarks, installs the variant the
/// cloud chose from its figures, and reports the new hash in its heartbeat; the twin then shows no drift, and the model
/// events hold every stage. Its own silo and database, because the download URLs must point at the relay.
/// </summary>
[Trait("Category", "ModelDistribution")]
public sealed class CloudToAgentTests : IAsyncLifetime
{
    /// <summary>Every frame is a hard frame up to this hourly budget: enough for the small job below after the hash split.</summary>
    private const int HardFrameBudget = 16;

    private const string ModelName = "picodet_s_320_coco";

    /// <summary>The download is cut after this many bytes towards the agent: inside either variant's file (INT8 is about 1.2 MB).</summary>
    private const long CutAfterBytes = 768 * 1024;

    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>The quantize job on a loaded 2-core machine: several minutes (the sensitivity analysis measures every node).</summary>
    private static readonly TimeSpan JobPatience = TimeSpan.FromMinutes(15);

    private static readonly (string Key, string Hash) ApiKey = ApiKeys.Mint();

    private readonly PostgresDatabase _database = new();
    private readonly string _keyFolder = Directory.CreateTempSubdirectory("yf-c2a-keys-").FullName;
    private TcpOutageProxy _relay = null!;
    private LocalFleet _fleet = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();

        // The silo listens on a port chosen here, so that its download URLs can name the relay in front of it.
        var siloHttpPort = LoopbackPorts.GetFree();
        _relay = new TcpOutageProxy(siloHttpPort);
        _fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            extraSettings:
            [
                new("Urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{siloHttpPort}")),
                new("Cloud:Api:KeyHashes:0", ApiKey.Hash),
                new("Cloud:Models:PublicBaseUrl", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_relay.Port}")),
                .. ModelDistributionFleet.SmallJobSettings,
            ]);
        _http = new HttpClient { BaseAddress = new Uri(_fleet.HttpAddress), Timeout = TimeSpan.FromMinutes(5) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey.Key);
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync();
        }

        if (_relay is not null)
        {
            await _relay.DisposeAsync();
        }

        await _database.DisposeAsync();
        Directory.Delete(_keyFolder, recursive: true);
    }

    [Fact]
    public async Task A_model_quantized_on_the_fleets_own_hard_frames_reaches_a_real_agent_across_a_cut_download_and_the_twin_shows_it_in_sync()
    {
        // The device: a real agent on the cloud's broker, pinning the cloud's signing key, sending every frame it runs
        // as a hard frame until its hourly budget is spent.
        await using var rig = await ModelDistributionRig.StartAsync("c2a", (_fleet.BrokerHost, _fleet.BrokerPort));
        var device = rig.DeviceId;
        await RegisterAsync(device);
        var signingKey = await _http.GetFromJsonAsync<JsonElement>("api/signing-key");
        var trustedKey = Path.Combine(_keyFolder, "cloud-signing.pub.pem");
        await File.WriteAllTextAsync(trustedKey, signingKey.GetProperty("publicKeyPem").GetString());
        using var agent = rig.StartAgent(configure: settings =>
        {
            settings["Agent:Models:TrustedKeys:0"] = trustedKey;
            settings["Agent:HardFrames:Enabled"] = "true";
            settings["Agent:HardFrames:SampleRate"] = "1.0";
            settings["Agent:HardFrames:BudgetPerHour"] = HardFrameBudget.ToString(CultureInfo.InvariantCulture);
        });

        // The operator uploads the FP32 model with its manifest, while the frames come in.
        var manifestPath = Path.Combine(ModelDistributionFleet.RepositoryRoot(), "models", "manifests", ModelName + ".onnx.manifest.json");
        var uploaded = await UploadAsync(SharedData.PicoDetS320, await File.ReadAllTextAsync(manifestPath));
        var version = uploaded.GetProperty("version").GetInt32();
        var fp32Sha = uploaded.GetProperty("variants")[0].GetProperty("sha256").GetString()!;
        Assert.Equal(TestModelSigner.Sha256Of(SharedData.PicoDetS320), fp32Sha);

        var stored = await Poll.UntilAsync(() => CountAsync($"SELECT count(*) FROM hard_frames WHERE device_id = '{device}'"), n => n >= HardFrameBudget, Patience);
        Assert.True(stored == HardFrameBudget, $"{stored} of {HardFrameBudget} hard frames stored; agent:{Environment.NewLine}{agent.Tail()}");

        // The quantize job calibrates on the frames this device sent.
        using var submitted = await _http.PostAsync(ModelDistributionFleet.Url($"api/models/{ModelName}/{version}/quantize"), null);
        var job = await ModelDistributionFleet.ReadJsonAsync(submitted, HttpStatusCode.Accepted);
        job = await WaitForJobAsync(job.GetProperty("id").GetInt64());
        Assert.Equal("hard-frames", job.GetProperty("calibrationSource").GetString());
        Assert.InRange(job.GetProperty("calibrationFrames").GetInt32(), 4, 8);
        var int8Sha = job.GetProperty("result").GetProperty("sha256").GetString()!;
        var int8 = (await _http.GetFromJsonAsync<JsonElement>(ModelDistributionFleet.Url($"api/models/{ModelName}/{version}")))
            .GetProperty("variants").EnumerateArray().Single(variant => variant.GetProperty("precision").GetString() == "int8");
        var frameIds = int8.GetProperty("manifest").GetProperty("lineage").GetProperty("calibration").GetProperty("frameIds").EnumerateArray()
            .Select(id => id.GetString()!).ToList();
        Assert.Equal(job.GetProperty("calibrationFrames").GetInt32(), frameIds.Count);
        Assert.All(frameIds, id => Assert.StartsWith(device + ":", id, StringComparison.Ordinal));
        var int8Size = int8.GetProperty("sizeBytes").GetInt64();
        var fp32Size = new FileInfo(SharedData.PicoDetS320).Length;

        // Assigned: the agent gets the retained assignment with both signed variants, and its first download is cut.
        _relay.CutOnceAfter(CutAfterBytes);
        using var assigned = await _http.PostAsJsonAsync("api/assignments", new { model = ModelName, version, devices = new[] { device } });
        var assignmentId = (await ModelDistributionFleet.ReadJsonAsync(assigned, HttpStatusCode.Created)).GetProperty("assignmentId").GetString()!;

        var outcome = await rig.WaitForAckAsync(
            a => a.AssignmentId == assignmentId && a.Stage is "activated" or "rejected" or "rolled-back" or "failed", Patience, agent);
        Assert.True(outcome.Stage == "activated", rig.Describe() + Environment.NewLine + agent.Tail());
        var chosen = outcome.Sha256;
        Assert.Contains(chosen, new[] { fp32Sha, int8Sha });
        Assert.Equal(chosen, outcome.ActiveSha256);

        // The relay really cut a transfer partway, and the agent came back on a new connection and asked for the rest only
        // (Range from the bytes it had kept). What was still in flight when the link dropped is lost and asked for again.
        Assert.Equal(CutAfterBytes, _relay.BytesBeforeCut);
        Assert.True(CutAfterBytes < Math.Min(fp32Size, int8Size));
        Assert.True(_relay.Accepted >= 2, $"{_relay.Accepted} connection(s) through the relay");
        var resumedFrom = _relay.FromClients.Select(RangeStart).Where(start => start > 0).ToList();
        Assert.True(resumedFrom.Count == 1, "expected one resumed request; the agent asked: " + string.Join(" | ", _relay.FromClients.Select(FirstLines)));
        Assert.InRange(resumedFrom[0], 1, CutAfterBytes);
        Assert.True(_relay.BytesToClients < fp32Size + int8Size + CutAfterBytes,
            $"{_relay.BytesToClients} bytes relayed for {fp32Size} + {int8Size}: more than a resumed download needs");

        // The heartbeat names the new model; the cloud stored it, and the twin is in sync.
        var telemetry = await rig.WaitForTelemetryAsync(t => t.ActiveModelSha256 == chosen, Patience, agent);
        Assert.Equal("", telemetry.CandidateModelSha256);
        Assert.True(await CountAsync($"SELECT count(*) FROM telemetry WHERE device_id = '{device}' AND active_model_sha256 = '{chosen}'") > 0);
        var twin = await Poll.UntilAsync(
            () => _http.GetFromJsonAsync<JsonElement>($"api/devices/{device}/twin"),
            t => t.GetProperty("inSync").GetBoolean() && t.GetProperty("reported").GetProperty("activeSha256").GetString() == chosen,
            Patience);
        Assert.True(twin.GetProperty("inSync").GetBoolean(), twin.ToString());
        Assert.Equal(JsonValueKind.Null, twin.GetProperty("drift").ValueKind);
        Assert.Equal((assignmentId, chosen), (twin.GetProperty("desired").GetProperty("assignmentId").GetString(), twin.GetProperty("desired").GetProperty("selectedSha256").GetString()));

        // The choice was the cloud's, from this device's figures; the model events hold the stages, none a refusal.
        var decisions = await _database.QueryAsync(
            $"SELECT chosen_sha256, basis FROM model_selections WHERE device_id = '{device}'", r => (Sha: r.GetString(0), Basis: r.GetString(1)));
        Assert.Equal((chosen, "benchmarked"), Assert.Single(decisions));
        var events = await _database.QueryAsync(
            $"SELECT stage, accepted FROM model_events WHERE device_id = '{device}' AND assignment_id = '{assignmentId}' ORDER BY sequence",
            r => (Stage: r.GetString(0), Accepted: r.GetBoolean(1)));
        Assert.All(events, e => Assert.True(e.Accepted, $"a refusal among {string.Join(", ", events)}"));
        Assert.Equal(["downloading", "verified", "benchmarked", "activated"], events.Select(e => e.Stage).Distinct());
        Assert.Equal("activated", events[^1].Stage);
    }

    private async Task RegisterAsync(string deviceId)
    {
        using var response = await _http.PostAsJsonAsync("api/devices", new { deviceId, displayName = "", status = "active" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await _fleet.RegisterDeviceAsync(deviceId, CancellationToken.None);
    }

    private async Task<JsonElement> UploadAsync(string modelPath, string manifestJson)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(manifestJson), "manifest");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(modelPath)), "model", Path.GetFileName(modelPath));
        using var response = await _http.PostAsync("api/models", form);
        return await ModelDistributionFleet.ReadJsonAsync(response, HttpStatusCode.Created);
    }

    private async Task<JsonElement> WaitForJobAsync(long id)
    {
        var job = await Poll.UntilAsync(
            () => _http.GetFromJsonAsync<JsonElement>(ModelDistributionFleet.Url($"api/jobs/{id}")),
            job => job.GetProperty("state").GetString() is "succeeded" or "failed",
            JobPatience);
        Assert.True(job.GetProperty("state").GetString() == "succeeded", $"job {id} did not succeed: {job}");
        return job;
    }

    /// <summary>N from a "Range: bytes=N-" header in an HTTP request the relay saw; 0 when there is none.</summary>
    private static long RangeStart(string request)
    {
        const string header = "\r\nRange: bytes=";
        var at = request.IndexOf(header, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return 0;
        }

        var digits = request.AsSpan(at + header.Length);
        var dash = digits.IndexOf('-');
        return dash > 0 && long.TryParse(digits[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : 0;
    }

    private static string FirstLines(string request) => string.Join(" / ", request.Split("\r\n").Take(4));

    private async Task<long> CountAsync(string sql) => (await _database.QueryAsync(sql, r => r.GetInt64(0))).Single();
}
