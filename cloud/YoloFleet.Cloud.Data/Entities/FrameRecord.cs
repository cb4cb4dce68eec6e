namespace YoloFleet.Cloud.Data.Entities;

/// <summary>One processed frame: one DetectionsPublished message. (device, sequence) is unique: the de-duplication key.</summary>
public sealed class FrameRecord
{
    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    public DateTimeOffset CapturedAt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    public DateTimeOffset CommittedAt { get; set; }

    public required string ModelVersion { get; set; }

    public int FrameWidth { get; set; }

    public int FrameHeight { get; set; }

    public float InferenceMs { get; set; }

    public required string FrameRef { get; set; }

    public int DetectionCount { get; set; }

    /// <summary>The device was throttling when the frame ran, so its inference_ms is not comparable with an unthrottled one's.</summary>
    public bool Throttled { get; set; }

    /// <summary>SHA-256 of the model file that produced the frame ("" from agents that predate it).</summary>
    public string ModelSha256 { get; set; } = "";
}
