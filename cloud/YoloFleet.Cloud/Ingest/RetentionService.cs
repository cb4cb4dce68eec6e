using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Data.Retention;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// Deletes rows past their table's retention in bounded batches, once per interval. Every silo may run it: the
/// deletes are idempotent and each batch is its own short transaction.
/// </summary>
public sealed partial class RetentionService(
    CloudOptions options,
    RetentionSweeper sweeper,
    TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    /// <summary>Each table with its retention in days (0 = keep forever). Detections go with their frames.</summary>
    public static IEnumerable<(RetainedTable Table, int Days)> Policy(RetentionOptions retention) =>
    [
        (RetainedTable.Frames, retention.FramesDays),
        (RetainedTable.Verifications, retention.VerificationsDays),
        (RetainedTable.HardFrames, retention.HardFramesDays),
        (RetainedTable.Telemetry, retention.TelemetryDays),
    ];

    /// <summary>One pass over every table; returns rows deleted per table.</summary>
    public async Task<IReadOnlyDictionary<RetainedTable, long>> SweepOnceAsync(CancellationToken cancellationToken)
    {
        var retention = options.Retention;
        var now = time.GetUtcNow();
        var deleted = new Dictionary<RetainedTable, long>();
        foreach (var (table, days) in Policy(retention))
        {
            if (days <= 0)
            {
                continue;
            }

            deleted[table] = await sweeper.SweepAsync(table, now.AddDays(-days), retention.BatchSize, retention.MaxBatchesPerSweep, cancellationToken);
            if (deleted[table] > 0)
            {
                LogSwept(deleted[table], table, days);
            }
        }

        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogSweepFailed(ex);
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(options.Retention.IntervalSeconds), time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Rows} rows from {Table} (older than {Days} days)")]
    private partial void LogSwept(long rows, RetainedTable table, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A retention sweep failed; the next one retries")]
    private partial void LogSweepFailed(Exception ex);
}
