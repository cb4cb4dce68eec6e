using System.Buffers;
using System.Globalization;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// Everything a model-distribution test needs around a real agent process: a device of its own on the real broker,
/// a signing key the agent trusts, a loopback artifact server, and an MQTT client that plays the cloud (publishes the
/// retained ModelAssigned, reads the acknowledgements, telemetry and detections). The cloud's end-to-end test can
/// keep the agent half and put the registry in place of the signer and the server.
/// </summary>
public sealed class ModelDistributionRig : IAsyncDisposable
{
    private readonly string _keyFolder;

    private ModelDistributionRig(string devicePrefix, (string Host, int Port) broker)
    {
        DeviceId = devicePrefix + "-" + Guid.NewGuid().ToString("N")[..6];
        Broker = broker;
        StateDirectory = Path.Combine(Path.GetTempPath(), "yf-md-" + DeviceId);
        _keyFolder = StateDirectory + "-keys";
        TrustedKeyFile = Signer.WritePublicKey(_keyFolder);
        Cloud = new MqttTestClient(broker.Host, broker.Port);
    }

    public string DeviceId { get; }

    public (string Host, int Port) Broker { get; }

    public string StateDirectory { get; }

    public TestModelSigner Signer { get; } = new();

    public string TrustedKeyFile { get; }

    public ArtifactServer Server { get; } = new();

    public MqttTestClient Cloud { get; }

    /// <summary>The factory model every agent here starts with.</summary>
    public static string FactoryModel => SharedData.YoloxNano416;

    public static async Task<ModelDistributionRig> StartAsync(string devicePrefix, (string Host, int Port)? broker = null)
    {
        if (broker is null)
        {
            await TestServices.RequireMosquittoAsync();
        }

        var rig = new ModelDistributionRig(devicePrefix, broker ?? TestServices.Mosquitto);
        await rig.Cloud.ConnectAsync();
        foreach (var kind in new[] { Topics.AckKind, Topics.TelemetryKind, Topics.DetectionsKind })
        {
            await rig.Cloud.SubscribeAsync(Topics.DeviceTopic(rig.DeviceId, kind));
        }

        return rig;
    }

    /// <summary>The agent's settings: the factory model, a looping coco128 source at a few frames/s, fast telemetry, this rig's key.</summary>
    public Dictionary<string, string> AgentSettings() => new()
    {
        ["Agent:DeviceId"] = DeviceId,
        ["Agent:ModelPath"] = FactoryModel,
        ["Agent:StateDirectory"] = StateDirectory,
        ["Agent:Broker:Host"] = Broker.Host,
        ["Agent:Broker:Port"] = Broker.Port.ToString(CultureInfo.InvariantCulture),
        ["Agent:Source:Folder"] = SharedData.Coco128Images,
        ["Agent:Source:Loop"] = "true",
        ["Agent:Source:MaxFps"] = "4",
        ["Agent:HardFrames:Enabled"] = "false",
        ["Agent:Detection:IntraOpThreads"] = "1",
        ["Agent:Telemetry:IntervalSeconds"] = "1",
        ["Agent:Models:TrustedKeys:0"] = TrustedKeyFile,
        ["Agent:Models:AllowHttp"] = "true",
        ["Agent:Models:ConfirmFrames"] = "3",
        ["Agent:Models:ConfirmTimeout"] = "00:00:30",
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft"] = "Warning",
    };

    public AgentProcess StartAgent(IReadOnlyDictionary<string, string>? environment = null, Action<Dictionary<string, string>>? configure = null)
    {
        var settings = AgentSettings();
        configure?.Invoke(settings);
        return new AgentProcess(settings, environment);
    }

    /// <summary>A signed single-variant assignment of the model at <paramref name="modelPath"/>, served by the rig's server as <paramref name="name"/>.</summary>
    public ModelAssigned Assignment(string assignmentId, string modelPath, string name, float maxLatencyMs = 0, IReadOnlyList<string>? classNames = null)
    {
        var manifest = TestModelSigner.ManifestFor(modelPath, classNames: classNames);
        var url = Server.ServeFile(name, modelPath);
        return TestModelSigner.Assignment(assignmentId, manifest.Model.Sha256, [TestModelSigner.Variant(Signer.SignedJson(manifest), url)], maxLatencyMs: maxLatencyMs);
    }

    /// <summary>Publishes the assignment as the cloud does: retained, on the device's model topic.</summary>
    public async Task AssignAsync(ModelAssigned assignment)
    {
        var result = await Cloud.PublishRetainedAsync(Topics.ModelAssignment(DeviceId), assignment.ToByteArray());
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"the broker refused the assignment: {result.ReasonCode}");
        }
    }

    public List<ModelAssignmentAcknowledged> Acks => Parse(Topics.AckKind, ModelAssignmentAcknowledged.Parser, a => a.Envelope);

    public List<TelemetryReported> Telemetry => Parse(Topics.TelemetryKind, TelemetryReported.Parser, t => t.Envelope);

    public List<DetectionsPublished> Detections => Parse(Topics.DetectionsKind, DetectionsPublished.Parser, d => d.Envelope);

    /// <summary>Waits (bounded) for an acknowledgement; fails with what arrived and the agent's output otherwise.</summary>
    public Task<ModelAssignmentAcknowledged> WaitForAckAsync(Func<ModelAssignmentAcknowledged, bool> match, TimeSpan timeout, AgentProcess? agent = null) =>
        WaitForAsync(() => Acks, match, timeout, agent, "acknowledgement");

    public Task<TelemetryReported> WaitForTelemetryAsync(Func<TelemetryReported, bool> match, TimeSpan timeout, AgentProcess? agent = null) =>
        WaitForAsync(() => Telemetry, match, timeout, agent, "telemetry report");

    public Task<DetectionsPublished> WaitForDetectionsAsync(Func<DetectionsPublished, bool> match, TimeSpan timeout, AgentProcess? agent = null) =>
        WaitForAsync(() => Detections, match, timeout, agent, "detections message");

    /// <summary>What the test has seen so far, for failure messages.</summary>
    public string Describe() =>
        "acks: " + string.Join(" | ", Acks.Select(a => $"{a.AssignmentId} {a.Stage} {a.ReasonCode} {Short(a.Sha256)} active {Short(a.ActiveSha256)} {a.Error}")) +
        "; last telemetry active " + Short(Telemetry.LastOrDefault()?.ActiveModelSha256 ?? "") +
        "; artifact requests: " + string.Join(", ", Server.Requests.Select(r => $"{r.Name} from {r.RangeFrom} {r.Status} {r.BytesSent}{(r.Cut ? " cut" : "")}"));

    public async ValueTask DisposeAsync()
    {
        try
        {
            // Leave no retained assignment behind on the shared broker.
            await Cloud.PublishRetainedAsync(Topics.ModelAssignment(DeviceId), []);
        }
        catch (Exception ex) when (ex is InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)
        {
        }

        await Cloud.DisposeAsync();
        Server.Dispose();
        Signer.Dispose();
        foreach (var folder in new[] { StateDirectory, _keyFolder })
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static string Short(string sha) => sha.Length >= 12 ? sha[..12] : sha;

    /// <summary>
    /// The messages of one kind, each once: the agent keeps a message until the cloud confirms it and sends it again when
    /// it does not (this rig plays the cloud and confirms nothing), so the rig de-duplicates by sequence as the cloud does.
    /// </summary>
    private List<T> Parse<T>(string kind, MessageParser<T> parser, Func<T, Envelope?> envelope)
        where T : IMessage<T>
    {
        var topic = Topics.DeviceTopic(DeviceId, kind);
        return [.. Cloud.Received.ToArray().Where(m => m.Topic == topic).Select(m => parser.ParseFrom(new ReadOnlySequence<byte>(m.Payload)))
            .DistinctBy(m => envelope(m)?.Sequence ?? 0)];
    }

    private async Task<T> WaitForAsync<T>(Func<List<T>> read, Func<T, bool> match, TimeSpan timeout, AgentProcess? agent, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (read().FirstOrDefault(match) is { } found)
            {
                return found;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"no matching {what} within {timeout.TotalSeconds} s; {Describe()}" +
            (agent is null ? "" : $"{Environment.NewLine}agent output (exited: {agent.HasExited}):{Environment.NewLine}{agent.RecentOutput}"));
        return default!;
    }
}
