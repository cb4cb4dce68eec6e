using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// The one way upstream messages enter the outbox: stamped with the device's next sequence number (one counter for all
/// topics) and appended in the same step, so numbers reach the outbox in order even when the pipeline and telemetry
/// write at the same time.
/// </summary>
public sealed class UpstreamWriter(EdgeAgentOptions options, SequenceCounter sequence, OutboxStore outbox, TimeProvider time)
{
    private readonly Lock _gate = new();

    /// <summary>Calls <paramref name="stamp"/> with the message's envelope, then stores the message.</summary>
    public Envelope Append(string kind, IMessage message, Action<Envelope> stamp)
    {
        lock (_gate)
        {
            var envelope = new Envelope
            {
                SchemaVersion = SchemaVersions.Current,
                DeviceId = options.DeviceId,
                Sequence = sequence.Next(),
                SentAtUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds(),
            };
            stamp(envelope);
            outbox.Append(envelope.Sequence, kind, message.ToByteArray());
            return envelope;
        }
    }
}
