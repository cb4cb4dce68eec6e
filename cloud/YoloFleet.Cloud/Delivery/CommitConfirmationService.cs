using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Delivery;

/// <summary>
/// Every <see cref="DeliveryOptions.ConfirmIntervalMs"/>, tells each device what this silo settled for it since the last
/// time: one <c>CommitsConfirmed</c> per device (ranges merged), QoS 1, not retained, on its <c>commits</c> topic through
/// the silo's downlink. A publish that fails puts its ranges back for the next interval. Confirmations are an
/// optimisation of what the device would otherwise send again, so none is ever waited for: a silo that dies takes its
/// unsent ones along, and the devices send those messages again (the cloud stores each once and confirms it then).
/// </summary>
public sealed partial class CommitConfirmationService(
    DeliveryOptions options,
    CommitConfirmations confirmations,
    IDeviceDownlink downlink,
    DeliveryCounters counters,
    TimeProvider time,
    ILogger<CommitConfirmationService> logger) : BackgroundService
{
    /// <summary>Publishes in flight at once: enough to confirm thousands of devices a second over one connection.</summary>
    private const int Parallelism = 256;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!confirmations.Enabled)
        {
            LogDisabled();
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.ConfirmIntervalMs), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // What ingest settled on its way out; a device that misses it sends those messages again.
        if (confirmations.Enabled)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await FlushAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Sends one confirmation to each device with something settled; returns how many went out.</summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        var due = confirmations.TakeAll();
        if (due.Count == 0)
        {
            return 0;
        }

        var started = time.GetTimestamp();
        var sent = 0;
        var failed = 0;
        await Parallel.ForEachAsync(
            due,
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (entry, ct) =>
            {
                var (deviceId, settled) = entry;
                var message = Build(settled, time.GetUtcNow());
                var payload = message.ToByteArray();
                try
                {
                    await downlink.PublishAsync(deviceId, Topics.CommitsKind, payload, retain: false, ct);
                    counters.Confirmed(payload.Length, Count(message.Committed), Count(message.Refused));
                    Interlocked.Increment(ref sent);

                    // What did not fit in one message goes in the next.
                    if (!settled.Committed.IsEmpty || !settled.Refused.IsEmpty)
                    {
                        confirmations.PutBack(deviceId, settled);
                    }
                }
                catch (DownlinkUnavailableException)
                {
                    counters.ConfirmationFailed();
                    Interlocked.Increment(ref failed);
                    Restore(settled, message);
                    confirmations.PutBack(deviceId, settled);
                }
            });

        counters.Flushed(time.GetElapsedTime(started));
        if (failed > 0)
        {
            LogPublishFailed(failed, due.Count);
        }

        return sent;
    }

    /// <summary>
    /// The confirmation for one device: at most <see cref="ProtocolLimits.MaxRangesPerConfirmationList"/> ranges of each
    /// kind, taken out of <paramref name="settled"/> (what is left stays there).
    /// </summary>
    public static CommitsConfirmed Build(DeviceSettled settled, DateTimeOffset now)
    {
        var message = new CommitsConfirmed { SchemaVersion = SchemaVersions.Current, SentAtUnixMs = now.ToUnixTimeMilliseconds() };
        Take(settled.Committed, message.Committed);
        Take(settled.Refused, message.Refused);
        return message;
    }

    private static void Take(SequenceRangeSet from, Google.Protobuf.Collections.RepeatedField<SequenceRange> into)
    {
        foreach (var range in from.ToProto(ProtocolLimits.MaxRangesPerConfirmationList).ToList())
        {
            into.Add(range);
            from.Remove(range.First, range.Last);
        }
    }

    private static void Restore(DeviceSettled settled, CommitsConfirmed message)
    {
        foreach (var range in message.Committed)
        {
            settled.Committed.Add(range.First, range.Last);
        }

        foreach (var range in message.Refused)
        {
            settled.Refused.Add(range.First, range.Last);
        }
    }

    private static ulong Count(IEnumerable<SequenceRange> ranges) => ranges.Aggregate(0UL, (n, r) => n + (r.Last - r.First + 1));

    [LoggerMessage(Level = LogLevel.Information, Message = "Commit confirmations are off (Cloud:Delivery:ConfirmIntervalMs=0): agents that wait for them will send everything again")]
    private partial void LogDisabled();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Failed} of {Devices} commit confirmations could not be published; they are kept for the next interval")]
    private partial void LogPublishFailed(int failed, int devices);
}
