namespace YoloFleet.Cloud.Data.Entities;

/// <summary>One box of a frame, in original-image pixels. Written by binary COPY, never through change tracking.</summary>
public sealed class DetectionRecord
{
    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    /// <summary>Position of the box in the message (0-based), so the edge's order is kept.</summary>
    public short Index { get; set; }

    /// <summary>Copied from the frame so that time-range queries need no join.</summary>
    public DateTimeOffset CapturedAt { get; set; }

    public short ClassId { get; set; }

    public float Score { get; set; }

    public float X1 { get; set; }

    public float Y1 { get; set; }

    public float X2 { get; set; }

    public float Y2 { get; set; }
}
