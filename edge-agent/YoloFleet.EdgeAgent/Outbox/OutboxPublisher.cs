using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Drains the outbox to the broker in order, with up to <see cref="OutboxOptions.MaxInFlight"/> publishes awaiting their
/// PUBACK. With <see cref="ConfirmationMode.Cloud"/> (the default) a PUBACK only starts the message's confirmation timer:
/// at most <see cref="DeliveryOptions.MaxUnconfirmed"/> messages may await the cloud's confirmation before sending stops,
/// and what the outbox says is due (asked for by the cloud, or unconfirmed too long) goes out again before anything new.
/// With <see cref="ConfirmationMode.Broker"/> the PUBACK settles the message. On any failure the connection is
/// re-established with exponential back-off and sending resumes after what the broker took (the cloud de-duplicates).
/// A permanent refusal by the broker settles the messages and reports them dropped (<c>broker-refused</c>).
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
    private long _resent;
    private long _unknownKind;

    /// <summary>Outbox messages the broker took (a batch counts each of its frames; re-sends count again).</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Messages the broker refused for good (e.g. not authorised); dropped and reported so they cannot block the queue.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Batches sent on the <c>detections-batch</c> topic (each counts its frames in <see cref="Published"/>).</summary>
    public long BatchesPublished => Interlocked.Read(ref _batches);

    /// <summary>Messages sent again because the cloud asked for them or did not confirm them in time.</summary>
    public long Resent => Interlocked.Read(ref _resent);

    /// <summary>
    /// Messages of a kind this agent cannot send (written by a newer agent before a downgrade, say): dropped and reported
    /// as <see cref="DeliveryDropReasons.UnknownKind"/> so that they cannot block the queue behind them.
    /// </summary>
    public long UnknownKind => Interlocked.Read(ref _unknownKind);

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
        var cloud = options.Delivery.Confirmation == ConfirmationMode.Cloud;
        var inFlight = new Queue<(List<OutboxMessage> Messages, bool Resend, Task Publish)>();
        var inFlightNew = 0;
        OutboxMessage? held = null;
        try
        {
            while (true)
            {
                // Take the change signal before reading, so an append between the read and the wait is not missed.
                var changed = outbox.WaitForChangeAsync(cancellationToken);

                // What the cloud asked for, or did not confirm in time, goes before anything new.
                while (cloud && inFlight.Count < options.Outbox.MaxInFlight && outbox.TakeDue(options.Outbox.MaxInFlight - inFlight.Count) is { Count: > 0 } due)
                {
                    foreach (var unit in Group(SkipUnknownKinds(due)))
                    {
                        Interlocked.Add(ref _resent, unit.Count);
                        inFlight.Enqueue((unit, true, PublishUnit(unit, cancellationToken)));
                    }
                }

                // New messages, while the cloud keeps up: past MaxUnconfirmed the backlog stays on disk.
                while (inFlight.Count < options.Outbox.MaxInFlight
                       && (!cloud || outbox.Unconfirmed + inFlightNew < options.Delivery.MaxUnconfirmed)
                       && (held ?? outbox.TryReadNext()) is { } message)
                {
                    held = null;
                    if (!IsSendable(message))
                    {
                        continue;
                    }

                    List<OutboxMessage> unit = [message];
                    if (options.Batching.Enabled && message.Kind == Topics.DetectionsKind)
                    {
                        var batch = await CollectBatchAsync(message, cancellationToken);
                        held = batch.Next;
                        unit = batch.Frames;
                    }

                    inFlightNew += unit.Count;
                    inFlight.Enqueue((unit, false, PublishUnit(unit, cancellationToken)));
                }

                if (inFlight.Count == 0)
                {
                    outbox.Trim();
                    var wait = TimeSpan.FromMinutes(1);
                    if (cloud && outbox.TimeUntilDue() is { } untilDue && untilDue < wait)
                    {
                        wait = untilDue + TimeSpan.FromMilliseconds(1);
                    }

                    await Task.WhenAny(changed, Task.Delay(wait, time, cancellationToken));
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                var (messages, resend, publish) = inFlight.Dequeue();
                if (!resend)
                {
                    inFlightNew -= messages.Count;
                }

                try
                {
                    await publish;
                }
                catch (BrokerRefusedException refused) when (refused.IsPermanent)
                {
                    Interlocked.Add(ref _refused, messages.Count);
                    LogRefused(messages[^1].Sequence, messages.Count, refused.Message);
                    foreach (var m in messages)
                    {
                        if (m.Kind == Topics.DeliveryKind)
                        {
                            // A refused report about a refusal would be refused again, for ever: settle it quietly.
                            outbox.Confirm(m.Sequence, m.Sequence);
                        }
                        else
                        {
                            outbox.Drop(m.Sequence, m.Sequence, DeliveryDropReasons.BrokerRefused);
                        }
                    }

                    continue;
                }

                if (cloud)
                {
                    outbox.MarkPublished(messages.Select(m => m.Sequence));
                }
                else
                {
                    outbox.Acknowledge(messages[^1].Sequence);
                }

                Interlocked.Add(ref _published, messages.Count);
            }
        }
        finally
        {
            // Publishes still in flight are abandoned; they are sent again after the rewind (or when they time out).
            foreach (var (_, _, publish) in inFlight)
            {
                _ = publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Messages due again, in sending units: runs of detections messages batched as new ones would be.</summary>
    private List<List<OutboxMessage>> Group(List<OutboxMessage> due)
    {
        var units = new List<List<OutboxMessage>>();
        var bytes = 0;
        foreach (var message in due)
        {
            var frame = message.Kind == Topics.DetectionsKind;
            if (options.Batching.Enabled && frame && units.Count > 0 && units[^1][^1].Kind == Topics.DetectionsKind
                && units[^1].Count < options.Batching.MaxFrames && bytes + EncodedFrameBytes(message) <= ProtocolLimits.MaxDetectionsBatchPayloadBytes)
            {
                units[^1].Add(message);
                bytes += EncodedFrameBytes(message);
                continue;
            }

            units.Add([message]);
            bytes = frame ? EncodedFrameBytes(message) : 0;
        }

        return units;
    }

    private Task PublishUnit(List<OutboxMessage> unit, CancellationToken cancellationToken) =>
        unit[0].Kind == Topics.DetectionsKind
            ? PublishFrames(unit, cancellationToken)
            : publisher.PublishAsync(TopicFor(unit[0].Kind)!, unit[0].Payload, cancellationToken);

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

    /// <summary>False (and the message dropped, counted and logged) for a kind this agent has no topic for.</summary>
    private bool IsSendable(OutboxMessage message)
    {
        if (TopicFor(message.Kind) is not null)
        {
            return true;
        }

        outbox.Drop(message.Sequence, message.Sequence, DeliveryDropReasons.UnknownKind);
        Interlocked.Increment(ref _unknownKind);
        LogUnknownKind(message.Sequence, message.Kind);
        return false;
    }

    private List<OutboxMessage> SkipUnknownKinds(List<OutboxMessage> due)
    {
        due.RemoveAll(m => !IsSendable(m));
        return due;
    }

    private static int EncodedFrameBytes(OutboxMessage frame) =>
        CodedOutputStream.ComputeTagSize(DetectionsBatch.FramesFieldNumber) + CodedOutputStream.ComputeLengthSize(frame.Payload.Length) + frame.Payload.Length;

    private string? TopicFor(string kind) => kind switch
    {
        Topics.DetectionsKind => Topics.Detections(options.DeviceId),
        Topics.HardFramesKind => Topics.HardFrames(options.DeviceId),
        Topics.TelemetryKind => Topics.Telemetry(options.DeviceId),
        Topics.AckKind => Topics.Ack(options.DeviceId),
        Topics.DeliveryKind => Topics.Delivery(options.DeviceId),
        Topics.ObjectEventsKind => Topics.ObjectEvents(options.DeviceId),
        Topics.ShadowKind => Topics.Shadow(options.DeviceId),
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending from the outbox failed ({Error}); {Depth} messages wait; retrying in {DelayMs} ms")]
    private partial void LogSendFailed(string error, long depth, double delayMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox message {Sequence} is of a kind this agent cannot send ('{Kind}'); dropped and reported")]
    private partial void LogUnknownKind(ulong sequence, string kind);

    [LoggerMessage(Level = LogLevel.Error, Message = "The broker refused {Messages} message(s) up to sequence {Sequence} for good; dropped: {Error}")]
    private partial void LogRefused(ulong sequence, int messages, string error);
}
