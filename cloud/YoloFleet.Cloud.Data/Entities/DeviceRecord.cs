namespace YoloFleet.Cloud.Data.Entities;

/// <summary>A device known to the cloud. Rows are created by the first committed message of a device.</summary>
public sealed class DeviceRecord
{
    public required string DeviceId { get; set; }

    public DateTimeOffset FirstSeenAt { get; set; }

    public DateTimeOffset LastSeenAt { get; set; }
}
