using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Drains the outbox to the broker in order, with up to <see cref="OutboxOptions.MaxInFlight"/> publishes awaiting
/// their PUBACK. A message leaves the outbox only once acknowledged. On any failure the connection is re-established
/// with exponential back-off and sending resumes from the oldest unacknowledged message (the cloud de-duplicates).
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

    public long Published => Interlocked.Read(ref _published);

    /// <summary>Messages the broker refused for good (e.g. not authorised); dropped so they cannot block the queue.</summary>
    public long Refused => Interlocked.Read(ref _refused);

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
        var inFlight = new Queue<(ulong Sequence, Task Publish)>();
        try
        {
            while (true)
            {
                // Take the change signal before reading, so an append between the read and the wait is not missed.
                var changed = outbox.WaitForChangeAsync(cancellationToken);
                while (inFlight.Count < options.Outbox.MaxInFlight && outbox.TryReadNext() is { } message)
                {
                    inFlight.Enqueue((message.Sequence, publisher.PublishAsync(TopicFor(message.Kind), message.Payload, cancellationToken)));
                }

                if (inFlight.Count == 0)
                {
                    outbox.Trim();
                    await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMinutes(1), time, cancellationToken));
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                var (sequence, publish) = inFlight.Dequeue();
                try
                {
                    await publish;
                }
                catch (BrokerRefusedException refused) when (refused.IsPermanent)
                {
                    Interlocked.Increment(ref _refused);
                    LogRefused(sequence, refused.Message);
                }

                outbox.Acknowledge(sequence);
                Interlocked.Increment(ref _published);
            }
        }
        finally
        {
            // Publishes still in flight are abandoned; they are sent again after the rewind.
            foreach (var (_, publish) in inFlight)
            {
                _ = publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }
    }

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

    [LoggerMessage(Level = LogLevel.Error, Message = "The broker refused message {Sequence} for good and it was dropped: {Error}")]
    private partial void LogRefused(ulong sequence, string error);
}
