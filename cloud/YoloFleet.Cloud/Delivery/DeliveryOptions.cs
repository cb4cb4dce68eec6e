using System.ComponentModel.DataAnnotations;
using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Delivery;

/// <summary>Configuration section "Cloud:Delivery": commit confirmations and gap requests (docs/protocol.md).</summary>
public sealed class DeliveryOptions
{
    /// <summary>
    /// How often this silo tells each device what it settled (one <c>CommitsConfirmed</c> per device per interval);
    /// 0 turns confirmations off, for benchmarking only: agents that wait for the cloud's confirmation (the default) then
    /// keep everything and send it again.
    /// </summary>
    [Range(0, 60_000)]
    public int ConfirmIntervalMs { get; set; } = 1000;

    /// <summary>
    /// Settled ranges this silo keeps waiting for their confirmation, over all devices. Beyond it new ones are counted
    /// and not kept: their devices send those messages again later, and the cloud confirms them then.
    /// </summary>
    [Range(1000, 100_000_000)]
    public int MaxPendingRanges { get; set; } = 1_000_000;

    /// <summary>A gap still open after this many seconds is asked of the device again; 0 turns gap requests off.</summary>
    [Range(0, 86_400)]
    public int GapRequestAfterSeconds { get; set; } = 30;

    /// <summary>The longest wait between two gap requests to one device while its gaps stay open (back-off cap).</summary>
    [Range(1, 86_400)]
    public int GapRequestMaxIntervalSeconds { get; set; } = 600;

    public GapRequestOptions GapRequests => new(TimeSpan.FromSeconds(GapRequestAfterSeconds), TimeSpan.FromSeconds(GapRequestMaxIntervalSeconds));
}
