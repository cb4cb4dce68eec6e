namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// A device known to the cloud. An operator registers it (POST /api/devices, `yolofleet devices add`); messages from a
/// device without an active row are counted as unknown-device and dropped.
/// </summary>
public sealed class DeviceRecord
{
    public required string DeviceId { get; set; }

    public string DisplayName { get; set; } = "";

    /// <summary>One of <see cref="DeviceStatus"/>; only active devices are admitted.</summary>
    public string Status { get; set; } = DeviceStatus.Active;

    /// <summary>The device's group (a site, a batch of hardware), by which an assignment can name many devices; null for none.</summary>
    public string? DeviceGroup { get; set; }

    public DateTimeOffset RegisteredAt { get; set; }

    /// <summary>When the first frame of this device committed; null until then.</summary>
    public DateTimeOffset? FirstSeenAt { get; set; }

    public DateTimeOffset? LastSeenAt { get; set; }
}

public static class DeviceStatus
{
    public const string Active = "active";

    /// <summary>Registered, but its messages are dropped (a stolen or retired device).</summary>
    public const string Disabled = "disabled";

    public static bool IsValid(string status) => status is Active or Disabled;
}
