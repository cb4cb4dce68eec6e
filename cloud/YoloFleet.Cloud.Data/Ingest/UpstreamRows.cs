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

/// <summary>One zone visit of an object event; <paramref name="Exited"/> null while the object is inside.</summary>
public sealed record ZoneVisitRow(string Zone, DateTimeOffset Entered, DateTimeOffset? Exited);

/// <summary>One line crossing of an object event.</summary>
public sealed record LineCrossingRow(string Line, string Direction, DateTimeOffset At);

/// <summary>A validated object event on its way to the database.</summary>
public sealed record ObjectEventRow(
    string DeviceId,
    long Sequence,
    long ObjectId,
    string Kind,
    int Revision,
    int ClassId,
    DateTimeOffset At,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    float BestScore,
    ZoneVisitRow[] Zones,
    LineCrossingRow[] Lines,
    ReadOnlyMemory<byte> BestCropJpeg,
    DetectionRow? BestBox,
    int FrameWidth,
    int FrameHeight,
    string ModelVersion,
    string ModelSha256,
    bool Recovered,
    DateTimeOffset ReceivedAt);
