using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YoloFleet.Cloud;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Net;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;

namespace YoloFleet.Cli;

/// <summary>
/// A whole fleet on one machine, all on loopback with free ports: a silo (with an embedded broker unless an external
/// one is named) and edge agents run in this process. Used by `yolofleet demo` and the end-to-end tests.
/// </summary>
public sealed class LocalFleet : IAsyncDisposable
{
    private readonly WebApplication _cloud;
    private readonly string? _ownStateDirectory;

    private LocalFleet(WebApplication cloud, string brokerHost, int brokerPort, int siloPort, string? ownStateDirectory)
    {
        _cloud = cloud;
        _ownStateDirectory = ownStateDirectory;
        BrokerHost = brokerHost;
        BrokerPort = brokerPort;
        SiloPort = siloPort;
    }

    public string BrokerHost { get; }

    public int BrokerPort { get; }

    public int SiloPort { get; }

    public IServiceProvider CloudServices => _cloud.Services;

    public IngestCounters Counters => _cloud.Services.GetRequiredService<IngestCounters>();

    public string HttpAddress => _cloud.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";

    /// <summary>Starts a silo. With <paramref name="externalBroker"/> null, an embedded MQTTnet broker runs too.</summary>
    /// <param name="redis">Redis for cluster membership; with it, silos started with the same <paramref name="clusterId"/> form one cluster.</param>
    public static async Task<LocalFleet> StartCloudAsync(
        string database,
        CancellationToken cancellationToken,
        (string Host, int Port)? externalBroker = null,
        string logLevel = "Warning",
        string? redis = null,
        string? clusterId = null,
        IEnumerable<KeyValuePair<string, string?>>? extraSettings = null)
    {
        var brokerPort = externalBroker?.Port ?? LoopbackPorts.GetFree();
        var brokerHost = externalBroker?.Host ?? "127.0.0.1";
        var siloPort = LoopbackPorts.GetFree();
        var settings = new Dictionary<string, string?>
        {
            ["Urls"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = logLevel,
            ["Logging:LogLevel:Orleans"] = "Error",
            ["Logging:LogLevel:Microsoft"] = "Warning",
            ["Cloud:Database"] = database,
            ["Cloud:Mqtt:Host"] = brokerHost,
            ["Cloud:Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Mqtt:ClientIdPrefix"] = "yolofleet-silo-" + Guid.NewGuid().ToString("N")[..8],

            // One share group per local cloud, so local clouds on one broker never take each other's messages.
            ["Cloud:Mqtt:ShareGroup"] = "local-" + (clusterId ?? Guid.NewGuid().ToString("N")[..8]),
            ["Cloud:EmbeddedBroker:Enabled"] = externalBroker is null ? "true" : "false",

            // A loopback-only fleet in one process: the embedded broker admits anonymous clients (docs/security.md).
            ["Cloud:Security:AllowAnonymous"] = "true",
            ["Cloud:EmbeddedBroker:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:PrimarySiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:GatewayPort"] = LoopbackPorts.GetFree().ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:ClusterId"] = clusterId ?? "local-" + Guid.NewGuid().ToString("N")[..8],
            ["Cloud:Silo:Clustering"] = redis is null ? "Localhost" : "Redis",
            ["Cloud:Silo:Redis"] = redis,
        };
        foreach (var (key, value) in extraSettings ?? [])
        {
            settings[key] = value;
        }

        // The silo's own files (signing key, token secret, artifacts) go to a folder of this fleet's, removed with it.
        string? ownStateDirectory = null;
        if (!settings.ContainsKey("Cloud:StateDirectory"))
        {
            ownStateDirectory = Directory.CreateTempSubdirectory("yolofleet-silo-").FullName;
            settings["Cloud:StateDirectory"] = ownStateDirectory;
        }

        var cloud = CloudHost.Build([], settings);
        await cloud.StartAsync(cancellationToken);
        var fleet = new LocalFleet(cloud, brokerHost, brokerPort, siloPort, ownStateDirectory);
        await fleet.WaitUntilSubscribedAsync(TimeSpan.FromSeconds(30), cancellationToken);
        return fleet;
    }

    /// <summary>
    /// Runs one edge agent (its real host: pipeline, outbox, publisher) over <paramref name="frames"/> images and returns
    /// once every message was acknowledged by the broker. <paramref name="brokerPort"/> lets the agent reach the broker
    /// another way (a test's outage proxy); <paramref name="settings"/> adds or overrides agent settings.
    /// </summary>
    public async Task<AgentRun> RunAgentAsync(
        string deviceId,
        string modelPath,
        string imageFolder,
        int frames,
        Func<DetectionsPublished, Task>? onPublished,
        CancellationToken cancellationToken,
        string? stateDirectory = null,
        int? brokerPort = null,
        IReadOnlyDictionary<string, string?>? settings = null)
    {
        await RegisterDeviceAsync(deviceId, cancellationToken);
        var state = stateDirectory ?? Path.Combine(Path.GetTempPath(), "yolofleet-agent-" + deviceId + "-" + Guid.NewGuid().ToString("N")[..8]);
        var agentSettings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = deviceId,
            ["Agent:ModelPath"] = modelPath,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Host"] = BrokerHost,
            ["Agent:Broker:Port"] = (brokerPort ?? BrokerPort).ToString(CultureInfo.InvariantCulture),
            ["Agent:Source:Folder"] = imageFolder,
            ["Agent:Source:MaxFrames"] = frames.ToString(CultureInfo.InvariantCulture),
            ["Agent:Source:Loop"] = "true",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            agentSettings[key] = value;
        }

        var agent = EdgeAgentHost.Build([], agentSettings);
        try
        {
            agent.Services.GetRequiredService<AgentPipeline>().Published = onPublished;
            var worker = agent.Services.GetRequiredService<AgentWorker>();

            // The worker stops the host once the frames are taken and the outbox has drained to the broker.
            await agent.StartAsync(cancellationToken);
            await agent.WaitForShutdownAsync(cancellationToken);
            if (worker.Failure is not null)
            {
                throw new InvalidOperationException($"Edge agent '{deviceId}' failed: {worker.Failure.Message}", worker.Failure);
            }

            var outbox = agent.Services.GetRequiredService<OutboxStore>();
            if (outbox.Depth > 0)
            {
                throw new InvalidOperationException($"Edge agent '{deviceId}' stopped with {outbox.Depth} messages unsent.");
            }

            var timings = agent.Services.GetRequiredService<StageTimings>();
            return new AgentRun(agent.Services.GetRequiredService<YoloFleet.EdgeAgent.Models.RunningDetector>().Current.Detector.Model, timings.Frames, timings.SourceFailures);
        }
        finally
        {
            await ((IAsyncDisposable)agent).DisposeAsync();
        }
    }

    /// <summary>Registers a device (the silo drops messages from unregistered ones) and makes this silo admit it at once.</summary>
    public async Task RegisterDeviceAsync(string deviceId, CancellationToken cancellationToken, string displayName = "")
    {
        await _cloud.Services.GetRequiredService<YoloFleet.Cloud.Data.Registry.DeviceDirectory>().RegisterAsync(deviceId, displayName, cancellationToken: cancellationToken);
        await _cloud.Services.GetRequiredService<IGrainFactory>().GetGrain<YoloFleet.Cloud.Abstractions.IDeviceGrain>(deviceId).RefreshRegistrationAsync();
        _cloud.Services.GetRequiredService<DeviceAdmission>().Forget(deviceId);
    }

    public Task<YoloFleet.Cloud.Abstractions.DeviceSnapshot> GetDeviceAsync(string deviceId) =>
        _cloud.Services.GetRequiredService<IGrainFactory>().GetGrain<YoloFleet.Cloud.Abstractions.IDeviceGrain>(deviceId).GetSnapshotAsync();

    /// <summary>Waits until at least <paramref name="expected"/> frames have committed; returns the count reached.</summary>
    public async Task<long> WaitForCommittedAsync(long expected, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Counters.Snapshot().FramesCommitted < expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, cancellationToken);
        }

        return Counters.Snapshot().FramesCommitted;
    }

    public async ValueTask DisposeAsync()
    {
        await _cloud.StopAsync(CancellationToken.None);
        await _cloud.DisposeAsync();
        if (_ownStateDirectory is not null && Directory.Exists(_ownStateDirectory))
        {
            Directory.Delete(_ownStateDirectory, recursive: true);
        }
    }

    private async Task WaitUntilSubscribedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var ingest = _cloud.Services.GetRequiredService<MqttIngestService>();
        var deadline = DateTime.UtcNow + timeout;
        while (!ingest.IsSubscribed)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The silo did not subscribe to the MQTT broker at {BrokerHost}:{BrokerPort} within {timeout.TotalSeconds:F0} s.");
            }

            await Task.Delay(50, cancellationToken);
        }
    }
}

/// <summary>What an in-process agent run did.</summary>
public sealed record AgentRun(ModelInfo Model, long Frames, long SourceFailures);
