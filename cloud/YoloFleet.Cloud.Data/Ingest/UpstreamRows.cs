namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>A validated hard frame on its way to the database.</summary>
public sealed record HardFrameRow(
    string DeviceId,
    long Sequence,
    long DetectionsSequence,
    DateTimeOffset CapturedAt,
    DateTimeOffset ReceivedAt,
    string ModelVersion,
    string Reason,
    ReadOnlyMemory<byte> Jpeg,
    DetectionRow[] EdgeDetections,
    string ModelSha256 = "",
    string ShadowModelSha256 = "",
    string ShadowModelVersion = "",
    DetectionRow[]? ShadowDetections = null);

/// <summary>One stage's latency in a telemetry report.</summary>
public sealed record StageLatencyRow(string Stage, float P50Ms, float P95Ms);

/// <summary>A validated telemetry report on its way to the database.</summary>
/// <param name="ActiveModelSha256">The model the device runs (slot A); "" when it does not say.</param>
/// <param name="CandidateModelSha256">The candidate installed beside it (slot B); "" for none.</param>
public sealed record TelemetryRow(
    string DeviceId,
    long Sequence,
    DateTimeOffset SentAt,
    DateTimeOffset ReceivedAt,
    float FramesPerSecond,
    float CpuPercent,
    float RssMb,
    float? TemperatureC,
    int? ThrottledFlags,
    long OutboxDepth,
    long OutboxEvicted,
    long FramesDropped,
    long SourceFailures,
    string SourceError,
    string ModelVersion,
    StageLatencyRow[] Stages,
    string ActiveModelSha256 = "",
    string CandidateModelSha256 = "",
    bool Throttled = false);
