using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using YoloFleet.Cli;
using YoloFleet.Cloud.Security;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Dashboard.Tests;

/// <summary>
/// The cluster the dashboard is tested against: a fresh migrated database, a silo on the real mosquitto with the real
/// FP32 verifier (yolox_nano_416), one real edge agent looping over coco128 at 2 frames/s (detections, telemetry every
/// second, hard frames on half the frames), two versions of one model, and a rollout over a group of registered
/// devices that never answer (so it stays in its first stage for the page to show).
/// </summary>
public sealed class DashboardFleet : IAsyncLifetime
{
    public const string AgentDevice = "dash-agent-01";
    public const string ModelName = "dash-detector";
    public const string RolloutGroup = "dash-rollout";

    /// <summary>Registered devices that never connect: the rollout's targets, shown offline.</summary>
    public static readonly string[] QuietDevices = ["dash-quiet-01", "dash-quiet-02", "dash-quiet-03"];

    private static readonly (string Key, string Hash) ApiKey = ApiKeys.Mint();
    private static readonly (string Key, string Hash) ReaderApiKey = ApiKeys.Mint();

    private readonly PostgresDatabase _database = new();
    private readonly CancellationTokenSource _agentStop = new();
    private Task? _agent;

    public static string OperatorKey => ApiKey.Key;

    /// <summary>A read-only key: the dashboard only reads, so it needs no more.</summary>
    public static string ReaderKey => ReaderApiKey.Key;

    public LocalFleet Fleet { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string RolloutId { get; private set; } = "";

    /// <summary>Why the agent stopped, if it did (its failure is the test's first clue).</summary>
    public Exception? AgentFailure { get; private set; }

    public async Task InitializeAsync()
    {
        await TestServices.RequireMosquittoAsync();
        await _database.InitializeAsync();
        Fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            externalBroker: TestServices.Mosquitto,
            extraSettings:
            [
                new("Cloud:Api:KeyHashes:0", ApiKey.Hash),
                new("Cloud:Api:ReaderKeyHashes:0", ReaderApiKey.Hash),
                new("Cloud:Verifier:ModelPath", SharedData.YoloxNano416),
                new("Cloud:Verifier:Workers", "1"),
                new("Cloud:Verifier:ThreadsPerWorker", "1"),
            ]);
        Http = new HttpClient { BaseAddress = new Uri(Fleet.HttpAddress), Timeout = TimeSpan.FromMinutes(2) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey.Key);

        foreach (var device in QuietDevices)
        {
            using var response = await Http.PostAsJsonAsync("api/devices", new { deviceId = device, displayName = "", status = "active", group = RolloutGroup });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        await UploadAsync(SharedData.YoloxNano416, "yolox_nano_416.onnx.manifest.json");
        await UploadAsync(SharedData.PicoDetS416, "picodet_s_416_coco.onnx.manifest.json");
        using (var started = await Http.PostAsJsonAsync("api/rollouts", new { model = ModelName, candidateVersion = 2, baselineVersion = 1, group = RolloutGroup }))
        {
            var body = await started.Content.ReadAsStringAsync();
            Assert.True(started.StatusCode == HttpStatusCode.Created, $"POST /api/rollouts: {(int)started.StatusCode} {body}");
            RolloutId = JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
        }

        _agent = Task.Run(RunAgentAsync);
    }

    public async Task DisposeAsync()
    {
        await _agentStop.CancelAsync();
        if (_agent is not null)
        {
            await _agent;
        }

        Http?.Dispose();
        if (Fleet is not null)
        {
            await Fleet.DisposeAsync();
        }

        await _database.DisposeAsync();
        _agentStop.Dispose();
    }

    /// <summary>Waits until the agent's frames, telemetry and a verified hard frame have reached the cloud.</summary>
    public async Task WaitForAgentDataAsync()
    {
        var verified = await Poll.UntilAsync(
            async () => AgentFailure is null ? await _database.QueryAsync("SELECT count(*) FROM verifications", r => r.GetInt64(0)) : [-1L],
            counts => counts[0] != 0,
            TimeSpan.FromMinutes(3));
        Assert.True(AgentFailure is null, $"The edge agent stopped: {AgentFailure}");
        Assert.True(verified[0] > 0, "No hard frame of the agent was verified within 3 minutes.");
        var telemetry = await Poll.UntilAsync(
            () => _database.QueryAsync("SELECT count(*) FROM telemetry WHERE device_id = 'dash-agent-01'", r => r.GetInt64(0)),
            counts => counts[0] >= 2,
            TimeSpan.FromMinutes(1));
        Assert.True(telemetry[0] >= 2, "The agent sent fewer than two telemetry reports in a minute.");
    }

    public Task<List<T>> QueryAsync<T>(string sql, Func<Npgsql.NpgsqlDataReader, T> map) => _database.QueryAsync(sql, map);

    private async Task RunAgentAsync()
    {
        try
        {
            await Fleet.RunAgentAsync(
                AgentDevice,
                SharedData.YoloxNano416,
                SharedData.Coco128Images,
                frames: 0,
                onPublished: null,
                _agentStop.Token,
                settings: new Dictionary<string, string?>
                {
                    ["Agent:Source:MaxFps"] = "2",
                    ["Agent:Telemetry:IntervalSeconds"] = "1",
                    ["Agent:HardFrames:SampleRate"] = "0.5",
                    ["Agent:HardFrames:BudgetPerHour"] = "100000",
                    ["Agent:Detection:IntraOpThreads"] = "1",
                });
        }
        catch (OperationCanceledException) when (_agentStop.IsCancellationRequested)
        {
            // The fixture stopped it.
        }
        catch (Exception ex)
        {
            AgentFailure = ex;
        }
    }

    private async Task UploadAsync(string modelPath, string manifestFile)
    {
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(Artifacts.RepositoryRoot(), "models", "manifests", manifestFile)))!.AsObject();
        manifest["name"] = ModelName;
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(manifest.ToJsonString()), "manifest");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(modelPath)), "model", Path.GetFileName(modelPath));
        using var response = await Http.PostAsync("api/models", form);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"POST /api/models: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFleet>
{
    public const string Name = "dashboard";
}
