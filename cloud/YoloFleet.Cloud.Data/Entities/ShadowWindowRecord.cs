namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// One window of a candidate model running in shadow beside the active model on a device (a <c>ShadowReported</c>).
/// Stored once: the key is the device and the message's sequence, so a redelivered window inserts nothing.
/// </summary>
public sealed class ShadowWindowRecord
{
    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    public required string ActiveSha256 { get; set; }

    public required string CandidateSha256 { get; set; }

    /// <summary>The window on the device's clock.</summary>
    public DateTimeOffset WindowStart { get; set; }

    public DateTimeOffset WindowEnd { get; set; }

    /// <summary>Frames the active model ran in the window.</summary>
    public long Frames { get; set; }

    /// <summary>Frames the candidate ran on too.</summary>
    public long ShadowedFrames { get; set; }

    /// <summary>Frames the sampling picked but the device's CPU budget skipped.</summary>
    public long SkippedForBudget { get; set; }

    /// <summary>Boxes of the two models matched by IoU and class.</summary>
    public long Matched { get; set; }

    public long OnlyActive { get; set; }

    public long OnlyCandidate { get; set; }

    public float ActiveP50Ms { get; set; }

    public float ActiveP95Ms { get; set; }

    public float CandidateP50Ms { get; set; }

    public float CandidateP95Ms { get; set; }

    /// <summary>Shadowed frames run while the device was throttling (left out of the latencies).</summary>
    public long ThrottledFrames { get; set; }

    public float ShadowCpuShare { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}
