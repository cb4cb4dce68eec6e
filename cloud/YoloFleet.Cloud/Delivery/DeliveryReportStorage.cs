using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Delivery;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Delivery;

/// <summary>
/// Stores a device's <c>DeliveryReported</c> (its intentional drops) once, in <c>delivery_drops</c>, counts it by reason,
/// and tells the device grain, which closes those gaps as accounted for. The returned task completes on commit, which is
/// when the message may be acknowledged and confirmed; a failed insert is retried until it commits or the silo stops.
/// </summary>
public sealed partial class DeliveryReportStorage(
    DeliveryStore store,
    DeliveryCounters counters,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<DeliveryReportStorage> logger)
{
    public async Task StoreAsync(DeliveryReportRow row, CancellationToken stoppingToken)
    {
        var inserted = await CommitRetry.UntilCommittedAsync(
            ct => store.InsertReportAsync(row, ct),
            (ex, attempt, delay) => LogInsertFailed(ex, attempt, delay.TotalMilliseconds),
            time,
            stoppingToken);
        counters.Reported(row.Ranges.Select(r => (r.Reason, r.Messages)), isNew: inserted > 0);
        if (inserted > 0)
        {
            LogReported(row.DeviceId, row.Ranges.Length, row.Ranges.Sum(r => r.Messages), string.Join(",", row.Ranges.Select(r => r.Reason).Distinct()));
        }

        try
        {
            await grains.GetGrain<IDeviceGrain>(row.DeviceId).RecordDropsAsync(
                row.Sequence, row.ReceivedAt, [.. row.Ranges.Select(r => new DroppedSequences(r.First, r.Last, r.Reason))]);
        }
        catch (Exception ex)
        {
            // The report is stored; a grain that missed it asks for those numbers later and finds them reported.
            LogGrainUpdateFailed(ex, row.DeviceId);
        }
    }

    public static DeliveryReportRow ToRow(DeliveryReported message, DateTimeOffset receivedAt) => new(
        message.Envelope.DeviceId,
        (long)message.Envelope.Sequence,
        DateTimeOffset.FromUnixTimeMilliseconds(message.Envelope.SentAtUnixMs),
        receivedAt,
        [.. message.Dropped.Select(d => new DroppedRangeRow((long)d.First, (long)d.Last, d.Reason, (long)d.Messages))]);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Device {DeviceId} reported {Ranges} dropped range(s), {Messages} message(s) ({Reasons})")]
    private partial void LogReported(string deviceId, int ranges, long messages, string reasons);

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing a delivery report failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogInsertFailed(Exception ex, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Telling device {DeviceId}'s grain about its reported drops failed")]
    private partial void LogGrainUpdateFailed(Exception ex, string deviceId);
}
