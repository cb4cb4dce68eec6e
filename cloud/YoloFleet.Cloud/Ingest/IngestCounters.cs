using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// What the ingest path did, for operators (HTTP /api/ingest/stats, logs) and for metrics exporters
/// (meter "YoloFleet.Cloud.Ingest"). Every dropped message is counted under its reason.
/// </summary>
public sealed class IngestCounters : IDisposable
{
    public const string MeterName = "YoloFleet.Cloud.Ingest";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _receivedCounter;
    private readonly Counter<long> _rejectedCounter;
    private readonly Counter<long> _committedCounter;
    private readonly ConcurrentDictionary<RejectReason, long> _rejected = new();
    private readonly ConcurrentDictionary<string, long> _receivedByKind = new(StringComparer.Ordinal);
    private readonly LatencyHistogram _captureToCommit = new();
    private long _framesCommitted;
    private long _detectionsCommitted;
    private long _duplicates;
    private long _writeFailures;
    private long _batches;

    public IngestCounters()
    {
        _receivedCounter = _meter.CreateCounter<long>("yolofleet.ingest.received", description: "Messages received, by kind");
        _rejectedCounter = _meter.CreateCounter<long>("yolofleet.ingest.rejected", description: "Messages dropped, by reason");
        _committedCounter = _meter.CreateCounter<long>("yolofleet.ingest.frames_committed", description: "Frames committed to PostgreSQL");
    }

    public void Received(string kind)
    {
        _receivedByKind.AddOrUpdate(kind, 1, static (_, n) => n + 1);
        _receivedCounter.Add(1, new KeyValuePair<string, object?>("kind", kind));
    }

    public void Rejected(RejectReason reason)
    {
        _rejected.AddOrUpdate(reason, 1, static (_, n) => n + 1);
        _rejectedCounter.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
    }

    public void Committed(int frames, int duplicates, long detections)
    {
        Interlocked.Add(ref _framesCommitted, frames);
        Interlocked.Add(ref _duplicates, duplicates);
        Interlocked.Add(ref _detectionsCommitted, detections);
        Interlocked.Increment(ref _batches);
        _committedCounter.Add(frames);
    }

    public void WriteFailed() => Interlocked.Increment(ref _writeFailures);

    /// <summary>From the frame's capture on the device to its commit here (device and silo clocks, so skew shows too).</summary>
    public void CaptureToCommit(TimeSpan latency) => _captureToCommit.Record(latency.TotalMilliseconds);

    public long RejectedCount(RejectReason reason) => _rejected.TryGetValue(reason, out var n) ? n : 0;

    public IngestStats Snapshot() => new(
        new SortedDictionary<string, long>(_receivedByKind, StringComparer.Ordinal),
        Interlocked.Read(ref _framesCommitted),
        Interlocked.Read(ref _detectionsCommitted),
        Interlocked.Read(ref _duplicates),
        Interlocked.Read(ref _batches),
        Interlocked.Read(ref _writeFailures),
        _rejected.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value, StringComparer.Ordinal),
        _captureToCommit.Snapshot());

    public void Dispose() => _meter.Dispose();
}

public sealed record IngestStats(
    IReadOnlyDictionary<string, long> ReceivedByKind,
    long FramesCommitted,
    long DetectionsCommitted,
    long Duplicates,
    long Batches,
    long WriteFailures,
    IReadOnlyDictionary<string, long> RejectedByReason,
    long[] CaptureToCommitBuckets,
    YoloFleet.Cloud.Delivery.DeliveryStats? Delivery = null)
{
    /// <summary>95th percentile of capture-to-commit latency in ms (upper bound of its <see cref="LatencyHistogram"/> bucket).</summary>
    public double? CaptureToCommitP95Ms => LatencyHistogram.Percentile(CaptureToCommitBuckets, 0.95);
}
