using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Delivery;

/// <summary>
/// End-to-end delivery on this silo: confirmations sent to devices, gap requests, and the drops devices reported (by
/// reason). Shown under <c>delivery</c> in <c>GET /api/ingest/stats</c> and on meter "YoloFleet.Cloud.Delivery".
/// </summary>
public sealed class DeliveryCounters : IDisposable
{
    public const string MeterName = "YoloFleet.Cloud.Delivery";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _confirmationsCounter;
    private readonly Counter<long> _droppedCounter;
    private readonly GapRequestCounters _gaps;
    private readonly ConcurrentDictionary<string, DropCount> _drops = new(StringComparer.Ordinal);
    private long _confirmations;
    private long _confirmationBytes;
    private long _confirmationFailures;
    private long _committedConfirmed;
    private long _refusedConfirmed;
    private long _rangesDropped;
    private long _reports;
    private long _reportsRedelivered;
    private long _flushes;
    private long _flushTicks;
    private long _slowestFlushTicks;

    public DeliveryCounters(GapRequestCounters gaps)
    {
        _gaps = gaps;
        _confirmationsCounter = _meter.CreateCounter<long>("yolofleet.delivery.confirmations", description: "CommitsConfirmed messages the broker took");
        _droppedCounter = _meter.CreateCounter<long>("yolofleet.delivery.dropped_messages", description: "Messages devices reported dropped, by reason");
    }

    public void Confirmed(int payloadBytes, ulong committed, ulong refused)
    {
        Interlocked.Increment(ref _confirmations);
        Interlocked.Add(ref _confirmationBytes, payloadBytes);
        Interlocked.Add(ref _committedConfirmed, (long)committed);
        Interlocked.Add(ref _refusedConfirmed, (long)refused);
        _confirmationsCounter.Add(1);
    }

    /// <summary>One round of confirmations took <paramref name="elapsed"/> (all devices' publishes, in parallel).</summary>
    public void Flushed(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _flushes);
        Interlocked.Add(ref _flushTicks, elapsed.Ticks);
        long slowest;
        while (elapsed.Ticks > (slowest = Interlocked.Read(ref _slowestFlushTicks))
               && Interlocked.CompareExchange(ref _slowestFlushTicks, elapsed.Ticks, slowest) != slowest)
        {
        }
    }

    public void ConfirmationFailed() => Interlocked.Increment(ref _confirmationFailures);

    public void ConfirmationRangeDropped() => Interlocked.Increment(ref _rangesDropped);

    /// <summary>A stored delivery report; <paramref name="isNew"/> false when it had been stored before (a redelivery).</summary>
    public void Reported(IEnumerable<(string Reason, long Messages)> ranges, bool isNew)
    {
        if (!isNew)
        {
            Interlocked.Increment(ref _reportsRedelivered);
            return;
        }

        Interlocked.Increment(ref _reports);
        foreach (var (reason, messages) in ranges)
        {
            _drops.AddOrUpdate(reason, _ => new DropCount(1, messages), (_, c) => new DropCount(c.Ranges + 1, c.Messages + messages));
            _droppedCounter.Add(messages, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public DeliveryStats Snapshot(bool confirmationsEnabled) => new(
        confirmationsEnabled,
        Interlocked.Read(ref _confirmations),
        Interlocked.Read(ref _confirmationBytes),
        Interlocked.Read(ref _confirmationFailures),
        Interlocked.Read(ref _committedConfirmed),
        Interlocked.Read(ref _refusedConfirmed),
        Interlocked.Read(ref _rangesDropped),
        _gaps.Requests,
        _gaps.NumbersRequested,
        _gaps.FoundStored,
        _gaps.Failures,
        Interlocked.Read(ref _reports),
        Interlocked.Read(ref _reportsRedelivered),
        new SortedDictionary<string, DropCount>(_drops, StringComparer.Ordinal),
        Interlocked.Read(ref _flushes),
        Interlocked.Read(ref _flushes) == 0 ? 0 : Math.Round(TimeSpan.FromTicks(Interlocked.Read(ref _flushTicks) / Interlocked.Read(ref _flushes)).TotalMilliseconds, 1),
        Math.Round(TimeSpan.FromTicks(Interlocked.Read(ref _slowestFlushTicks)).TotalMilliseconds, 1));

    public void Dispose() => _meter.Dispose();
}

/// <summary>Dropped ranges reported under one reason, and the messages they held.</summary>
public sealed record DropCount(long Ranges, long Messages);

/// <summary>This silo's delivery figures since it started.</summary>
public sealed record DeliveryStats(
    bool ConfirmationsEnabled,
    long ConfirmationsPublished,
    long ConfirmationPayloadBytes,
    long ConfirmationFailures,
    long SequencesConfirmedCommitted,
    long SequencesConfirmedRefused,
    long ConfirmationRangesDropped,
    long GapRequests,
    long GapNumbersRequested,
    long GapNumbersFoundStored,
    long GapRequestFailures,
    long DeliveryReports,
    long DeliveryReportsRedelivered,
    IReadOnlyDictionary<string, DropCount> DropsByReason,
    long ConfirmationRounds = 0,
    double ConfirmationRoundMeanMs = 0,
    double ConfirmationRoundMaxMs = 0);
