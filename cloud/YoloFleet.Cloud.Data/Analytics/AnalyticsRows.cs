namespace YoloFleet.Cloud.Data.Analytics;

/// <summary>The width of a time bucket; buckets start on UTC boundaries.</summary>
public enum TimeBucket
{
    Minute,
    Hour,
    Day,
}

/// <summary>What latency percentiles are grouped by.</summary>
public enum LatencyGrouping
{
    Device,
    Model,
}

/// <summary>The figure that ranks devices in <see cref="FleetAnalytics.TopDevicesAsync"/>.</summary>
public enum TopDevicesMetric
{
    /// <summary>Boxes detected in the range.</summary>
    Detections,

    /// <summary>p95 of inference milliseconds in the range.</summary>
    LatencyP95,

    /// <summary>Hard frames per frame in the range.</summary>
    HardFrameRate,

    /// <summary>1 − F1 of the edge's boxes against the FP32 verifier's on the verified hard frames in the range.</summary>
    Disagreement,

    /// <summary>Messages waiting in the device's outbox, by its latest telemetry (the range does not apply).</summary>
    Backlog,
}

/// <summary>Boxes of one class from one device in one bucket.</summary>
public sealed record DetectionCountRow(DateTimeOffset Bucket, string DeviceId, int ClassId, string ClassName, long Count);

/// <summary>Inference-time percentiles of the frames of one device or one model.</summary>
public sealed record LatencyRow(string Key, long Samples, double P50Ms, double P95Ms, double P99Ms);

/// <summary>The edge's precision and recall against the FP32 verifier, pooled over the verified hard frames of one model in one bucket.</summary>
public sealed record AgreementRow(DateTimeOffset Bucket, string Model, long Frames, double Precision, double Recall);

/// <summary>Frames and hard frames of one device in one bucket.</summary>
public sealed record HardFrameRateRow(DateTimeOffset Bucket, string DeviceId, long Frames, long HardFrames, double Rate);

/// <summary>One registered device as its latest telemetry and last-seen time show it.</summary>
public sealed record FleetHealthRow(string DeviceId, bool Online, DateTimeOffset? LastSeen, bool Throttled, long OutboxBacklog, string Model);

/// <summary>One device and the figure it was ranked by.</summary>
public sealed record TopDeviceRow(string DeviceId, double Value);
