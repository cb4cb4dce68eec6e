namespace YoloFleet.Contracts;

/// <summary>
/// The MQTT topic tree. Every topic string in the product comes from here; see docs/protocol.md.
/// </summary>
/// <remarks>
/// <c>yolofleet/v1/devices/{deviceId}/{kind}</c>. Device ids are restricted (see <see cref="DeviceIds"/>) so that
/// they can never contain the MQTT wildcards or separators.
/// </remarks>
public static class Topics
{
    public const string Root = "yolofleet/v1";
    public const string DevicesPrefix = Root + "/devices/";

    /// <summary>The shared-subscription group the silos join, so each upstream message goes to one silo.</summary>
    public const string CloudShareGroup = "yolofleet-cloud";

    public const string DetectionsKind = "detections";

    /// <summary>Several frames' detections in one message (<c>DetectionsBatch</c>); see docs/protocol.md.</summary>
    public const string DetectionsBatchKind = "detections-batch";
    public const string HardFramesKind = "hardframes";
    public const string TelemetryKind = "telemetry";
    public const string ModelKind = "model";
    public const string AckKind = "ack";
    public const string StatusKind = "status";

    /// <summary>Cloud → device: which of the device's upstream messages are committed (<c>CommitsConfirmed</c>).</summary>
    public const string CommitsKind = "commits";

    /// <summary>Device → cloud: sequence numbers the device will never deliver, and why (<c>DeliveryReported</c>).</summary>
    public const string DeliveryKind = "delivery";

    /// <summary>Device → cloud: a window of a candidate model running in shadow (<c>ShadowReported</c>).</summary>
    public const string ShadowKind = "shadow";

    /// <summary>Device → cloud: a tracked object's start, update or end (<c>ObjectEventPublished</c>; docs/scene.md).</summary>
    public const string ObjectEventsKind = "events";

    /// <summary>The kinds a device sends and the cloud ingests (device → cloud); the retained status is apart.</summary>
    public static readonly IReadOnlyList<string> UpstreamKinds = [DetectionsKind, DetectionsBatchKind, HardFramesKind, TelemetryKind, AckKind, DeliveryKind, ShadowKind, ObjectEventsKind];

    /// <summary>The kinds the cloud sends a device (cloud → device): the only topics a device subscribes to.</summary>
    public static readonly IReadOnlyList<string> DownstreamKinds = [ModelKind, CommitsKind];

    public static string Detections(string deviceId) => DeviceTopic(deviceId, DetectionsKind);

    public static string DetectionsBatch(string deviceId) => DeviceTopic(deviceId, DetectionsBatchKind);

    public static string HardFrames(string deviceId) => DeviceTopic(deviceId, HardFramesKind);

    public static string Telemetry(string deviceId) => DeviceTopic(deviceId, TelemetryKind);

    public static string ModelAssignment(string deviceId) => DeviceTopic(deviceId, ModelKind);

    public static string Ack(string deviceId) => DeviceTopic(deviceId, AckKind);

    public static string Commits(string deviceId) => DeviceTopic(deviceId, CommitsKind);

    public static string Delivery(string deviceId) => DeviceTopic(deviceId, DeliveryKind);

    public static string Shadow(string deviceId) => DeviceTopic(deviceId, ShadowKind);

    public static string ObjectEvents(string deviceId) => DeviceTopic(deviceId, ObjectEventsKind);

    /// <summary>Retained "online"/"offline"; the device's will message sets "offline".</summary>
    public static string Status(string deviceId) => DeviceTopic(deviceId, StatusKind);

    /// <summary>Filter matching one kind of message from every device.</summary>
    public static string AllDevices(string kind) => DevicesPrefix + "+/" + kind;

    /// <summary>The same filter as a shared subscription: each message goes to one member of <paramref name="group"/>.</summary>
    public static string SharedAllDevices(string kind, string group = CloudShareGroup) => "$share/" + group + "/" + AllDevices(kind);

    /// <summary>Everything a device may publish or subscribe to: used by broker ACLs.</summary>
    public static string DeviceSubtree(string deviceId) => DevicesPrefix + DeviceIds.Require(deviceId) + "/#";

    /// <summary>Splits <c>yolofleet/v1/devices/{id}/{kind}</c>; false for any other shape.</summary>
    public static bool TryParse(string topic, out string deviceId, out string kind)
    {
        deviceId = "";
        kind = "";
        if (!topic.StartsWith(DevicesPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic.AsSpan(DevicesPrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1 || rest[(slash + 1)..].Contains('/'))
        {
            return false;
        }

        var id = rest[..slash].ToString();
        if (!DeviceIds.IsValid(id))
        {
            return false;
        }

        deviceId = id;
        kind = rest[(slash + 1)..].ToString();
        return true;
    }

    /// <summary>The topic of one kind for one device: <c>yolofleet/v1/devices/{deviceId}/{kind}</c>.</summary>
    public static string DeviceTopic(string deviceId, string kind) => DevicesPrefix + DeviceIds.Require(deviceId) + "/" + kind;
}
