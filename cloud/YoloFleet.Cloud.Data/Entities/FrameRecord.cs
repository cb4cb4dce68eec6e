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
}
