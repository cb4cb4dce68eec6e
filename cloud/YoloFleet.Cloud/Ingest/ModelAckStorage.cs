using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Registry.Assignments;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// Stores a validated ModelAssignmentAcknowledged (table model_events, once per (device, sequence)), feeds the device
/// grain's twin, and hands a "benchmarked" report to the assignment service, which chooses the device's variant. The
/// returned task completes once the event has committed, which is when the MQTT message may be acknowledged; the
/// choice is idempotent, so a redelivered report after a crash still leads to one.
/// </summary>
public sealed partial class ModelAckStorage(
    ModelEventStore events, AssignmentService assignments, IGrainFactory grains, TimeProvider time, ILogger<ModelAckStorage> logger)
{
    public async Task StoreAsync(ModelAssignmentAcknowledged ack, DateTimeOffset receivedAt, CancellationToken stoppingToken)
    {
        var deviceId = ack.Envelope.DeviceId;
        var sequence = (long)ack.Envelope.Sequence;
        var row = new ModelEventRow(
            deviceId, sequence, ack.AssignmentId, ack.Stage, ack.Accepted, ack.ReasonCode, ack.Error, ack.Sha256.ToLowerInvariant(),
            ack.ActiveSha256.ToLowerInvariant(), ack.CandidateSha256.ToLowerInvariant(), ack.CpuFeatures,
            DateTimeOffset.FromUnixTimeMilliseconds(ack.Envelope.SentAtUnixMs), receivedAt);
        await CommitRetry.UntilCommittedAsync(ct => events.InsertAsync(row, ct), (ex, attempt, delay) => LogFailed(ex, "storing", deviceId, attempt, delay.TotalMilliseconds), time, stoppingToken);

        if (ack.Stage == ModelAssignmentStages.Benchmarked && ack.Accepted && ack.Benchmarks.Count > 0)
        {
            var figures = ack.Benchmarks
                .Select(b => new BenchmarkFigure(b.Sha256.ToLowerInvariant(), b.Precision, b.P50Ms, b.P95Ms, (int)Math.Min(b.Runs, int.MaxValue), b.Throttled))
                .ToList();
            await CommitRetry.UntilCommittedAsync(
                async ct =>
                {
                    await events.UpsertBenchmarksAsync(deviceId, figures, ack.CpuFeatures, receivedAt, ct);
                    await assignments.OnBenchmarkedAsync(deviceId, ack.AssignmentId, figures, ack.CpuFeatures, ct);
                    return true;
                },
                (ex, attempt, delay) => LogFailed(ex, "choosing a variant for", deviceId, attempt, delay.TotalMilliseconds),
                time,
                stoppingToken);
        }

        try
        {
            var grain = grains.GetGrain<IDeviceGrain>(deviceId);
            await grain.RecordMessageAsync(sequence, receivedAt);
            await grain.RecordModelAckAsync(new ModelAck(
                ack.AssignmentId, ack.Stage, ack.Accepted, ack.ReasonCode, ack.Error, row.Sha256, row.ActiveSha256, row.CandidateSha256, receivedAt));
        }
        catch (Exception ex)
        {
            // The event is committed; a grain that missed it shows a stale twin until the next report.
            LogGrainFailed(ex, deviceId);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{What} a model acknowledgement of {DeviceId} failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogFailed(Exception ex, string what, string deviceId, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating the twin of {DeviceId} after a model acknowledgement failed")]
    private partial void LogGrainFailed(Exception ex, string deviceId);
}
