using System.Threading.Channels;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cloud.Verification;

/// <summary>A stored hard frame waiting for the FP32 verifier.</summary>
public sealed record HardFrameToVerify(HardFrameRow Frame);

/// <summary>
/// The bounded hand-off in front of the verifier's workers. Verification is advisory and the frame is already stored,
/// so a full queue drops (and counts) rather than slowing ingest down.
/// </summary>
public sealed class VerificationQueue(VerifierOptions options, VerificationCounters counters)
{
    private readonly Channel<HardFrameToVerify> _channel = Channel.CreateBounded<HardFrameToVerify>(
        new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = false, SingleWriter = false });

    public ChannelReader<HardFrameToVerify> Reader => _channel.Reader;

    public bool Enabled => !string.IsNullOrEmpty(options.ModelPath);

    /// <summary>Queues a frame; returns false (and counts a drop) when the verifier is off or the queue is full.</summary>
    public bool TryEnqueue(HardFrameRow frame)
    {
        if (!Enabled)
        {
            return false;
        }

        if (_channel.Writer.TryWrite(new HardFrameToVerify(frame)))
        {
            counters.Queued();
            return true;
        }

        counters.Dropped(VerificationDropReason.QueueFull);
        return false;
    }

    public int Depth => _channel.Reader.Count;
}
