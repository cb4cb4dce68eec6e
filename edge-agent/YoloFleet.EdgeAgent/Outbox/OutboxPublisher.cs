using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Drains the outbox to the broker in order, with up to <see cref="OutboxOptions.MaxInFlight"/> publishes awaiting
/// their PUBACK. A message leaves the outbox only once acknowledged. On any failure the connection is re-established
/// with exponential back-off and sending resumes from the oldest unacknowledged message (the cloud de-duplicates).
/// With <see cref="BatchingOptions"/> on, consecutive detections messages go out together as one batch.
/// </summary>
public sealed partial class OutboxPublisher(
    EdgeAgentOptions options,
    OutboxStore outbox,
    MqttPublisher publisher,
    TimeProvider time,
    ILogger<OutboxPublisher> logger) : BackgroundService
{
    private long _published;
    private long _refused;
    private long _batches;

    /// <summary>Outbox messages delivered (a batch counts each of its frames).</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Messages the broker refused for good (e.g. not authorised); dropped so they cannot block the queue.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Batches sent on the <c>detections-batch</c> topic (each counts its frames in <see cref="Published"/>).</summary>
    public long BatchesPublished => Interlocked.Read(ref _batches);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await publisher.EnsureConnectedAsync(stoppingToken);
                backoff = TimeSpan.FromMilliseconds(250);
                outbox.Rewind();
                await DrainAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogSendFailed(ex.Message, outbox.Depth, backoff.TotalMilliseconds);
                await Task.Delay(backoff, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 30_000));
            }
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        var inFlight = new Queue<(ulong LastSequence, int Messages, Task Publish)>();
        OutboxMessage? held = null;
        try
        {
            while (true)
            {
                // Take the change signal before reading, so an append between the read and the wait is not missed.
                var changed = outbox.WaitForChangeAsync(cancellationToken);
                while (inFlight.Count < options.Outbox.MaxInFlight && (held ?? outbox.TryReadNext()) is { } message)
                {
                    held = null;
                    if (options.Batching.Enabled && message.Kind == Topics.DetectionsKind)
                    {
                        var batch = await CollectBatchAsync(message, cancellationToken);
                        held = batch.Next;
                        inFlight.Enqueue((batch.Frames[^1].Sequence, batch.Frames.Count, PublishFrames(batch.Frames, cancellationToken)));
                        continue;
                    }

                    inFlight.Enqueue((message.Sequence, 1, publisher.PublishAsync(TopicFor(message.Kind), message.Payload, cancellationToken)));
                }

                if (inFlight.Count == 0)
                {
                    outbox.Trim();
                    await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMinutes(1), time, cancellationToken));
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                var (sequence, messages, publish) = inFlight.Dequeue();
                try
                {
                    await publish;
                }
                catch (BrokerRefusedException refused) when (refused.IsPermanent)
                {
                    Interlocked.Add(ref _refused, messages);
                    LogRefused(sequence, messages, refused.Message);
                }

                outbox.Acknowledge(sequence);
                Interlocked.Add(ref _published, messages);
            }
        }
        finally
        {
            // Publishes still in flight are abandoned; they are sent again after the rewind.
            foreach (var (_, _, publish) in inFlight)
            {
                _ = publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }
    }

    /// <summary>
    /// Gathers the detections messages that follow <paramref name="first"/> in the outbox into one batch: up to
    /// <see cref="BatchingOptions.MaxFrames"/> frames and the batch byte limit, waiting for more until the first frame is
    /// <see cref="BatchingOptions.MaxDelayMs"/> old. Any other kind of message ends the batch and is returned as
    /// <c>Next</c>, to be sent right after it, so the outbox order holds.
    /// </summary>
    private async Task<(List<OutboxMessage> Frames, OutboxMessage? Next)> CollectBatchAsync(OutboxMessage first, CancellationToken cancellationToken)
    {
        var frames = new List<OutboxMessage>(options.Batching.MaxFrames) { first };
        var bytes = EncodedFrameBytes(first);
        var deadline = first.EnqueuedAt + TimeSpan.FromMilliseconds(options.Batching.MaxDelayMs);
        while (frames.Count < options.Batching.MaxFrames)
        {
            var changed = outbox.WaitForChangeAsync(cancellationToken);
            if (outbox.TryReadNext() is not { } next)
            {
                var wait = deadline - time.GetUtcNow();
                if (wait <= TimeSpan.Zero)
                {
                    break;
                }

                await Task.WhenAny(changed, Task.Delay(wait, time, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            if (next.Kind != Topics.DetectionsKind || bytes + EncodedFrameBytes(next) > ProtocolLimits.MaxDetectionsBatchPayloadBytes)
            {
                return (frames, next);
            }

            frames.Add(next);
            bytes += EncodedFrameBytes(next);
        }

        return (frames, null);
    }

    private Task PublishFrames(List<OutboxMessage> frames, CancellationToken cancellationToken)
    {
        if (frames.Count == 1)
        {
            return publisher.PublishAsync(Topics.Detections(options.DeviceId), frames[0].Payload, cancellationToken);
        }

        Interlocked.Increment(ref _batches);
        return publisher.PublishAsync(Topics.DetectionsBatch(options.DeviceId), EncodeBatch(frames), cancellationToken);
    }

    /// <summary>
    /// A <c>DetectionsBatch</c> built from the stored messages as they are: each is already an encoded
    /// <c>DetectionsPublished</c>, which is exactly what a repeated message field holds, so nothing is parsed again.
    /// </summary>
    public static byte[] EncodeBatch(IReadOnlyList<OutboxMessage> frames)
    {
        var buffer = new byte[frames.Sum(EncodedFrameBytes)];
        var output = new CodedOutputStream(buffer);
        foreach (var frame in frames)
        {
            output.WriteTag(DetectionsBatch.FramesFieldNumber, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(UnsafeByteOperations.UnsafeWrap(frame.Payload));
        }

        output.CheckNoSpaceLeft();
        return buffer;
    }

    private static int EncodedFrameBytes(OutboxMessage frame) =>
        CodedOutputStream.ComputeTagSize(DetectionsBatch.FramesFieldNumber) + CodedOutputStream.ComputeLengthSize(frame.Payload.Length) + frame.Payload.Length;

    private string TopicFor(string kind) => kind switch
    {
        Topics.DetectionsKind => Topics.Detections(options.DeviceId),
        Topics.HardFramesKind => Topics.HardFrames(options.DeviceId),
        Topics.TelemetryKind => Topics.Telemetry(options.DeviceId),
        Topics.AckKind => Topics.Ack(options.DeviceId),
        _ => throw new InvalidDataException($"The outbox holds a message of unknown kind '{kind}'."),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending from the outbox failed ({Error}); {Depth} messages wait; retrying in {DelayMs} ms")]
    private partial void LogSendFailed(string error, long depth, double delayMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "The broker refused {Messages} message(s) up to sequence {Sequence} for good; dropped: {Error}")]
    private partial void LogRefused(ulong sequence, int messages, string error);
}
