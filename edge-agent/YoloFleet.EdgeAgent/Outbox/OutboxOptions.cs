using System.ComponentModel.DataAnnotations;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>When appended messages are forced to stable storage.</summary>
public enum FsyncPolicy
{
    /// <summary>fsync after every append: nothing acknowledged by the pipeline is lost even on power loss. Slowest.</summary>
    Always,

    /// <summary>
    /// fsync at most every <see cref="OutboxOptions.FsyncIntervalMs"/>. A process crash (even SIGKILL) loses nothing,
    /// because written data is in the kernel's page cache; a power cut can lose the last interval. The default.
    /// </summary>
    Interval,

    /// <summary>Leave it to the kernel (typically up to 30 s of exposure to power cuts). For tests and tmpfs.</summary>
    Never,
}

/// <summary>Configuration section "Agent:Outbox".</summary>
public sealed class OutboxOptions
{
    /// <summary>Upper bound of the outbox on disk; when full, the oldest segment is evicted (counted and reported).</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Messages older than this are evicted even when there is room (a week by default).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Messages are stored in segment files of about this size; eviction works in whole segments.</summary>
    [Range(4096, 1024L * 1024 * 1024)]
    public long SegmentBytes { get; set; } = 4L * 1024 * 1024;

    public FsyncPolicy Fsync { get; set; } = FsyncPolicy.Interval;

    [Range(1, 60_000)]
    public int FsyncIntervalMs { get; set; } = 1000;

    /// <summary>Messages published ahead of their broker acknowledgement.</summary>
    [Range(1, 1000)]
    public int MaxInFlight { get; set; } = 32;
}
