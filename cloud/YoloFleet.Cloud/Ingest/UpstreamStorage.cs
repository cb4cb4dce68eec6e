using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Verification;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// Persists hard frames, telemetry and object events. Each returns a task that completes once the row has committed, which is when
/// the MQTT message may be acknowledged; a failed insert is retried with back-off until it commits or the silo stops
/// (then the message stays unacknowledged and the broker redelivers it). A new hard frame then goes to the verifier.
/// </summary>
public sealed partial class UpstreamStorage(
    UpstreamWriter writer,
    VerificationQueue verification,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<UpstreamStorage> logger)
{
    // Hard frames and telemetry are a trickle next to detections; a few concurrent inserts are plenty and keep the
    // connection pool free for the batch writer.
    private readonly SemaphoreSlim _inserts = new(8);

    public async Task StoreHardFrameAsync(HardFrameRow row, CancellationToken stoppingToken)
    {
        var inserted = await WithRetryAsync(ct => writer.InsertHardFrameAsync(row, ct), "hard frame", stoppingToken);
        if (inserted)
        {
            verification.TryEnqueue(row);
        }

        await TellGrainAsync(() => grains.GetGrain<IDeviceGrain>(row.DeviceId).RecordMessageAsync(row.Sequence, row.ReceivedAt));
    }

    public async Task StoreTelemetryAsync(TelemetryRow row, CancellationToken stoppingToken)
    {
        await WithRetryAsync(ct => writer.InsertTelemetryAsync(row, ct), "telemetry", stoppingToken);
        var health = new DeviceHealth(
            row.ReceivedAt, row.FramesPerSecond, row.CpuPercent, row.RssMb, row.TemperatureC, row.OutboxDepth, row.FramesDropped,
            row.SourceFailures, row.SourceError);
        await TellGrainAsync(() => grains.GetGrain<IDeviceGrain>(row.DeviceId).RecordTelemetryAsync(row.Sequence, health));
        if (row.ActiveModelSha256.Length > 0 || row.CandidateModelSha256.Length > 0)
        {
            // The device twin's reported half (docs/registry.md).
            await TellGrainAsync(() => grains.GetGrain<IDeviceGrain>(row.DeviceId)
                .ReportModelsAsync(new ReportedModels(row.ActiveModelSha256, row.CandidateModelSha256, row.ReceivedAt, "telemetry")));
        }
    }

    /// <summary>An object event: stored once (a redelivery inserts nothing), then counted in the device's grain like any message.</summary>
    public async Task StoreObjectEventAsync(ObjectEventRow row, CancellationToken stoppingToken)
    {
        await WithRetryAsync(ct => writer.InsertObjectEventAsync(row, ct), "object event", stoppingToken);
        await TellGrainAsync(() => grains.GetGrain<IDeviceGrain>(row.DeviceId).RecordMessageAsync(row.Sequence, row.ReceivedAt));
    }

    private Task<bool> WithRetryAsync(Func<CancellationToken, Task<bool>> insert, string what, CancellationToken stoppingToken) =>
        CommitRetry.UntilCommittedAsync(
            async ct =>
            {
                await _inserts.WaitAsync(ct);
                try
                {
                    return await insert(ct);
                }
                finally
                {
                    _inserts.Release();
                }
            },
            (ex, attempt, delay) => LogInsertFailed(ex, what, attempt, delay.TotalMilliseconds),
            time,
            stoppingToken);

    private async Task TellGrainAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception ex)
        {
            // The row is committed; a grain that missed an update only loses counters, so log and go on.
            LogGrainUpdateFailed(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing a {What} failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogInsertFailed(Exception ex, string what, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating a device grain after a committed message failed")]
    private partial void LogGrainUpdateFailed(Exception ex);
}
