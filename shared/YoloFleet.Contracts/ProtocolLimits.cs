namespace YoloFleet.Contracts;

/// <summary>Size and range limits of protocol v1. Brokers are configured with <see cref="MaxPacketBytes"/>.</summary>
public static class ProtocolLimits
{
    public const int MaxDetectionsPayloadBytes = 64 * 1024;
    public const int MaxDetectionsPerFrame = 1000;

    /// <summary>A batch of frames: at most this many frames and bytes (each frame still within its own limits).</summary>
    public const int MaxFramesPerBatch = 100;
    public const int MaxDetectionsBatchPayloadBytes = 256 * 1024;
    public const int MaxHardFramePayloadBytes = 2 * 1024 * 1024;
    public const int MaxTelemetryPayloadBytes = 16 * 1024;
    public const int MaxAckPayloadBytes = 8 * 1024;
    public const int MaxDeliveryPayloadBytes = 16 * 1024;
    public const int MaxShadowPayloadBytes = 4 * 1024;

    /// <summary>One object event: its best crop (JPEG) and the zones and lines so far.</summary>
    public const int MaxObjectEventPayloadBytes = 256 * 1024;

    /// <summary>An object event's best crop; the agent scales the crop down and lowers its JPEG quality to fit.</summary>
    public const int MaxObjectCropBytes = 192 * 1024;

    /// <summary>Zone visits and line crossings in one object event (the oldest are left out past these).</summary>
    public const int MaxZoneVisitsPerEvent = 64;
    public const int MaxLineCrossingsPerEvent = 256;

    /// <summary>A zone's or a line's name.</summary>
    public const int MaxSceneNameLength = 64;

    /// <summary>Downstream: a retained model assignment (its variants' signed manifests included).</summary>
    public const int MaxModelAssignedPayloadBytes = 64 * 1024;

    /// <summary>An acknowledgement's assignment id, reason code, error text and CPU feature list.</summary>
    public const int MaxAssignmentIdLength = 64;
    public const int MaxReasonCodeLength = 32;
    public const int MaxAckErrorLength = 1024;
    public const int MaxCpuFeaturesLength = 256;

    /// <summary>Variant benchmarks in one acknowledgement.</summary>
    public const int MaxBenchmarksPerAck = 8;

    /// <summary>Downstream: one commit confirmation.</summary>
    public const int MaxCommitsPayloadBytes = 64 * 1024;

    /// <summary>
    /// Ranges in each list of one <c>CommitsConfirmed</c> (committed, refused, resend). A range takes at most 24 bytes,
    /// so three full lists stay under <see cref="MaxCommitsPayloadBytes"/>; a sender keeps the rest for its next message.
    /// </summary>
    public const int MaxRangesPerConfirmationList = 800;

    /// <summary>Dropped ranges in one <c>DeliveryReported</c>; a device with more sends several reports.</summary>
    public const int MaxDroppedRangesPerReport = 256;
    public const int MaxFrameRefBytes = 256;
    public const int MaxModelVersionLength = 128;
    public const int MaxFrameSide = 16_384;

    /// <summary>The largest MQTT packet a broker should accept: the largest payload plus headroom for headers.</summary>
    public const int MaxPacketBytes = MaxHardFramePayloadBytes + (64 * 1024);

    /// <summary>The payload limit of an upstream kind (device → cloud); 0 for anything else.</summary>
    public static int MaxPayloadBytes(string kind) => kind switch
    {
        Topics.DetectionsKind => MaxDetectionsPayloadBytes,
        Topics.DetectionsBatchKind => MaxDetectionsBatchPayloadBytes,
        Topics.HardFramesKind => MaxHardFramePayloadBytes,
        Topics.TelemetryKind => MaxTelemetryPayloadBytes,
        Topics.AckKind => MaxAckPayloadBytes,
        Topics.DeliveryKind => MaxDeliveryPayloadBytes,
        Topics.ShadowKind => MaxShadowPayloadBytes,
        Topics.ObjectEventsKind => MaxObjectEventPayloadBytes,
        _ => 0,
    };
}

/// <summary>The object-event contract's own version (<c>ObjectEventPublished.event_version</c>).</summary>
public static class ObjectEvents
{
    /// <summary>The version this build writes and the only one it accepts.</summary>
    public const uint ContractVersion = 1;

    /// <summary>Line crossing directions on the wire.</summary>
    public const string LeftToRight = "left-to-right";
    public const string RightToLeft = "right-to-left";
}

public static class SchemaVersions
{
    /// <summary>The schema version this build writes and the only one it accepts.</summary>
    public const uint Current = 1;

    /// <summary>MQTT 5 content type set on every payload.</summary>
    public const string ContentType = "application/x-protobuf; proto=yolofleet.v1";
}
