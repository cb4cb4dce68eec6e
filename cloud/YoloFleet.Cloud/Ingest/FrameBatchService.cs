using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// Drains the ingest queue in batches bounded by size and time, writes each with one COPY transaction, retries a failed
/// write with back-off until it commits, then hands what committed to <see cref="CommittedFramesNotifier"/> for the
/// device grains. A frame's MQTT message is acknowledged only after this has committed it.
/// </summary>
public sealed partial class FrameBatchService(
    FrameIngestQueue queue,
    FrameBatchWriter writer,
    CommittedFramesNotifier notifier,
    IngestCounters counters,
    CloudOptions options,
    TimeProvider time,
    ILogger<FrameBatchService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var maxFrames = options.Ingest.MaxBatchFrames;
        var maxDelay = TimeSpan.FromMilliseconds(options.Ingest.MaxBatchDelayMs);

        // Batches in flight at once: while PostgreSQL merges one, the next is collected and copied. Acknowledgements stay
        // in receive order whatever order batches commit in (MqttIngestService waits for each message's own commit).
        var writes = new Queue<Task>();
        var batch = new List<PendingFrame>(maxFrames);
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                var deadline = time.GetTimestamp() + (long)(maxDelay.TotalSeconds * time.TimestampFrequency);
                while (batch.Count < maxFrames)
                {
                    if (queue.Reader.TryRead(out var pending))
                    {
                        batch.Add(pending);
                        continue;
                    }

                    var remaining = time.GetElapsedTime(time.GetTimestamp(), deadline);
                    if (remaining <= TimeSpan.Zero)
                    {
                        break;
                    }

                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    wait.CancelAfter(remaining);
                    try
                    {
                        if (!await queue.Reader.WaitToReadAsync(wait.Token))
                        {
                            break;
                        }
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                        break;
                    }
                }

                if (writes.Count >= options.Ingest.MaxConcurrentWrites)
                {
                    await writes.Dequeue();
                }

                writes.Enqueue(WriteBatchAsync(batch, stoppingToken));
                batch = new List<PendingFrame>(maxFrames);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: whatever did not commit stays unacknowledged, so the broker redelivers it.
        }
        finally
        {
            foreach (var p in batch)
            {
                p.MarkAbandoned();
            }

            while (queue.Reader.TryRead(out var left))
            {
                left.MarkAbandoned();
            }

            await Task.WhenAll(writes);
        }
    }

    /// <summary>Writes one batch until it commits (or the silo stops), then releases its messages' acknowledgements.</summary>
    private async Task WriteBatchAsync(List<PendingFrame> batch, CancellationToken stoppingToken)
    {
        var rows = new List<FrameRow>(batch.Count);
        foreach (var p in batch)
        {
            rows.Add(p.Row);
        }

        BatchWriteResult result;
        try
        {
            result = await WriteWithRetryAsync(rows, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            foreach (var p in batch)
            {
                p.MarkAbandoned();
            }

            return;
        }

        counters.Committed(result.Inserted.Count, result.Duplicates, result.DetectionsInserted);
        var committedAt = time.GetUtcNow();
        foreach (var row in rows)
        {
            counters.CaptureToCommit(committedAt - row.CapturedAt);
        }

        foreach (var p in batch)
        {
            p.MarkCommitted();
        }

        notifier.Add(rows, result);
    }

    private Task<BatchWriteResult> WriteWithRetryAsync(List<FrameRow> rows, CancellationToken stoppingToken) =>
        CommitRetry.UntilCommittedAsync(
            ct => writer.WriteAsync(rows, ct),
            (ex, attempt, delay) =>
            {
                counters.WriteFailed();
                LogWriteFailed(ex, rows.Count, attempt, delay.TotalMilliseconds);
            },
            time,
            stoppingToken);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing a batch of {Frames} frames failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogWriteFailed(Exception ex, int frames, int attempt, double delayMs);
}
