using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud.Ingest;

/// <summary>Configuration section "Cloud:Registry": which devices the silo admits.</summary>
public sealed class RegistryOptions
{
    /// <summary>
    /// When true (the default), messages from a device with no active row in `devices` are counted as UnknownDevice
    /// and dropped. False admits every device and creates its row on its first frame: for a lab, never production.
    /// </summary>
    public bool RequireRegistration { get; set; } = true;
}

/// <summary>Configuration section "Cloud:Retention": how long each time-series table keeps rows. 0 days keeps them forever.</summary>
public sealed class RetentionOptions
{
    /// <summary>Frames and, with them, their detections (deleted by cascade with their frame).</summary>
    [Range(0, 36_500)]
    public int FramesDays { get; set; } = 30;

    [Range(0, 36_500)]
    public int HardFramesDays { get; set; } = 14;

    [Range(0, 36_500)]
    public int VerificationsDays { get; set; } = 90;

    [Range(0, 36_500)]
    public int TelemetryDays { get; set; } = 30;

    /// <summary>Rows per DELETE: one short transaction each.</summary>
    [Range(1, 1_000_000)]
    public int BatchSize { get; set; } = 5000;

    /// <summary>Batches per table per sweep; whatever is left waits for the next sweep.</summary>
    [Range(1, 100_000)]
    public int MaxBatchesPerSweep { get; set; } = 200;

    [Range(1, 86_400)]
    public int IntervalSeconds { get; set; } = 3600;
}
