using YoloFleet.Cloud.Data.Shadow;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Shadow;

/// <summary>
/// Stores a device's <c>ShadowReported</c> windows once each, in <c>shadow_windows</c> (a redelivery inserts nothing).
/// The returned task completes on commit, which is when the message may be acknowledged and confirmed (it then counts
/// toward the device's commit watermark like any other upstream message); a failed insert is retried until it commits
/// or the silo stops.
/// </summary>
public sealed partial class ShadowWindowStorage(ShadowWindowStore store, TimeProvider time, ILogger<ShadowWindowStorage> logger)
{
    private long _stored;
    private long _duplicates;

    /// <summary>Windows stored since start.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Windows received again after they were stored (redeliveries).</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    public async Task StoreAsync(ShadowWindowRow row, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(row);
        var inserted = await CommitRetry.UntilCommittedAsync(
            ct => store.InsertAsync(row, ct),
            (ex, attempt, delay) => LogInsertFailed(ex, attempt, delay.TotalMilliseconds),
            time,
            stoppingToken);
        Interlocked.Increment(ref inserted > 0 ? ref _stored : ref _duplicates);
    }

    public static ShadowWindowRow ToRow(ShadowReported message, DateTimeOffset receivedAt)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new(
            message.Envelope.DeviceId,
            (long)message.Envelope.Sequence,
            message.ActiveSha256.ToLowerInvariant(),
            message.CandidateSha256.ToLowerInvariant(),
            DateTimeOffset.FromUnixTimeMilliseconds(message.WindowStartUnixMs),
            DateTimeOffset.FromUnixTimeMilliseconds(message.WindowEndUnixMs),
            message.Frames,
            message.ShadowedFrames,
            message.SkippedForBudget,
            message.Matched,
            message.OnlyActive,
            message.OnlyCandidate,
            message.ActiveP50Ms,
            message.ActiveP95Ms,
            message.CandidateP50Ms,
            message.CandidateP95Ms,
            message.ThrottledFrames,
            message.ShadowCpuShare,
            receivedAt);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing a shadow window failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogInsertFailed(Exception ex, int attempt, double delayMs);
}
