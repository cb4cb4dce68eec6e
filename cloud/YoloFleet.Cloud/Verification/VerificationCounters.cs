using System.Collections.Concurrent;

namespace YoloFleet.Cloud.Verification;

public enum VerificationDropReason
{
    QueueFull,
    UndecodableJpeg,
    Failed,
}

/// <summary>What the FP32 verifier did; every frame it did not verify is counted under its reason.</summary>
public sealed class VerificationCounters
{
    private readonly ConcurrentDictionary<VerificationDropReason, long> _dropped = new();
    private long _queued;
    private long _verified;
    private long _verifyTicks;

    public void Queued() => Interlocked.Increment(ref _queued);

    public void Verified(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _verified);
        Interlocked.Add(ref _verifyTicks, elapsed.Ticks);
    }

    public void Dropped(VerificationDropReason reason) => _dropped.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    public long DroppedCount(VerificationDropReason reason) => _dropped.TryGetValue(reason, out var n) ? n : 0;

    public VerificationStats Snapshot()
    {
        var verified = Interlocked.Read(ref _verified);
        return new VerificationStats(
            Interlocked.Read(ref _queued),
            verified,
            verified == 0 ? 0 : TimeSpan.FromTicks(Interlocked.Read(ref _verifyTicks) / verified).TotalMilliseconds,
            _dropped.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value, StringComparer.Ordinal));
    }
}

public sealed record VerificationStats(long Queued, long Verified, double MeanVerifyMs, IReadOnlyDictionary<string, long> DroppedByReason);
