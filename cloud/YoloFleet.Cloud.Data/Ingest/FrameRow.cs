namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>One box as it is stored.</summary>
public readonly record struct DetectionRow(short ClassId, float Score, float X1, float Y1, float X2, float Y2);

/// <summary>A validated frame on its way to the database.</summary>
/// <param name="Throttled">The device was throttling while the frame ran (latency comparisons keep like with like).</param>
/// <param name="ModelSha256">SHA-256 of the model that produced the frame; "" from agents that predate it.</param>
public sealed record FrameRow(
    string DeviceId,
    long Sequence,
    DateTimeOffset CapturedAt,
    DateTimeOffset ReceivedAt,
    string ModelVersion,
    int FrameWidth,
    int FrameHeight,
    float InferenceMs,
    string FrameRef,
    DetectionRow[] Detections,
    bool Throttled = false,
    string ModelSha256 = "");

/// <summary>What one committed batch did.</summary>
/// <param name="Inserted">The frames that were new, as (device, sequence).</param>
/// <param name="Duplicates">Frames already stored (a redelivery), which were skipped.</param>
/// <param name="DetectionsInserted">Boxes written.</param>
public sealed record BatchWriteResult(IReadOnlyList<(string DeviceId, long Sequence)> Inserted, int Duplicates, long DetectionsInserted);
