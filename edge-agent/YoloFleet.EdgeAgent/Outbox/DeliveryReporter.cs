using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Tells the cloud what the device gave up on, so an intentional drop is never taken for loss: every
/// <see cref="DeliveryOptions.ReportInterval"/> it gathers the outbox's pending drops (disk budget, age limit, refusals,
/// numbers asked for that it does not hold) into <c>DeliveryReported</c> messages, which enter the outbox like any other
/// and wait there for the cloud's confirmation. Pending drops live in memory: after a crash the cloud still sees those
/// numbers as a gap, asks for them, and hears <c>not-held</c>.
/// </summary>
public sealed partial class DeliveryReporter(
    EdgeAgentOptions options,
    OutboxStore outbox,
    UpstreamWriter upstream,
    TimeProvider time,
    ILogger<DeliveryReporter> logger) : BackgroundService
{
    private long _reports;
    private long _ranges;

    /// <summary>DeliveryReported messages queued.</summary>
    public long Reports => Interlocked.Read(ref _reports);

    /// <summary>Dropped ranges reported.</summary>
    public long Ranges => Interlocked.Read(ref _ranges);

    /// <summary>Queues the pending drops as reports; returns how many reports.</summary>
    public int ReportPending()
    {
        var drops = outbox.TakeDrops();
        var reports = 0;
        for (var start = 0; start < drops.Count; start += ProtocolLimits.MaxDroppedRangesPerReport)
        {
            var report = new DeliveryReported();
            foreach (var drop in drops.Skip(start).Take(ProtocolLimits.MaxDroppedRangesPerReport))
            {
                report.Dropped.Add(new DroppedRange { First = drop.First, Last = drop.Last, Reason = drop.Reason, Messages = drop.Messages });
                LogDropped(drop.First, drop.Last, drop.Messages, drop.Reason);
            }

            upstream.Append(Topics.DeliveryKind, report, envelope => report.Envelope = envelope);
            Interlocked.Increment(ref _reports);
            Interlocked.Add(ref _ranges, report.Dropped.Count);
            reports++;
        }

        return reports;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Delivery.ReportInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                ReportPending();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // Into the outbox on disk: sent now if there is time, else on the next start.
        ReportPending();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reporting sequence numbers {First}-{Last} ({Messages} message(s)) as dropped: {Reason}")]
    private partial void LogDropped(ulong first, ulong last, ulong messages, string reason);
}
