namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// One range of sequence numbers a device reported it will never deliver (a <c>DroppedRange</c> of a
/// <c>DeliveryReported</c>), so that an intentional drop is told apart from loss. Stored once: the key is the device,
/// the report's own sequence and the range's first number, so a redelivered report inserts nothing.
/// </summary>
public sealed class DeliveryDropRecord
{
    public required string DeviceId { get; set; }

    /// <summary>The sequence of the <c>DeliveryReported</c> message that carried this range.</summary>
    public long ReportSequence { get; set; }

    public long First { get; set; }

    public long Last { get; set; }

    /// <summary>budget, age, broker-refused, cloud-refused or not-held (YoloFleet.Contracts.DeliveryDropReasons).</summary>
    public required string Reason { get; set; }

    /// <summary>Messages the range held on the device (a range can span numbers never used; 0 for not-held).</summary>
    public long Messages { get; set; }

    /// <summary>When the device wrote the report (device clock).</summary>
    public DateTimeOffset ReportedAt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}
