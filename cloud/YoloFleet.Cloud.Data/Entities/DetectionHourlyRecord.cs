namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// Boxes per UTC hour of capture, device and class (detections_hourly): the rollup the analytics read for whole hours.
/// FrameBatchWriter adds the boxes of the frames it inserted, in the transaction that copies them; RetentionSweeper takes
/// away the boxes it deletes, in the statement that deletes them. Never written through change tracking.
/// </summary>
public sealed class DetectionHourlyRecord
{
    /// <summary>The hour the frames were captured in, truncated in UTC.</summary>
    public DateTimeOffset Hour { get; set; }

    public required string DeviceId { get; set; }

    public short ClassId { get; set; }

    public long Boxes { get; set; }
}
