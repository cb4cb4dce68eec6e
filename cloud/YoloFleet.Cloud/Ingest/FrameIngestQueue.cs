using System.Threading.Channels;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cloud.Ingest;

/// <summary>A frame waiting to be written; <see cref="Committed"/> completes once its batch has committed.</summary>
public sealed class PendingFrame(FrameRow row)
{
    private readonly TaskCompletionSource _committed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FrameRow Row { get; } = row;

    public Task Committed => _committed.Task;

    internal void MarkCommitted() => _committed.TrySetResult();

    internal void MarkAbandoned() => _committed.TrySetCanceled();
}

/// <summary>The bounded hand-off between MQTT receive and the batch writer. Full means wait, never drop.</summary>
public sealed class FrameIngestQueue(CloudOptions options)
{
    private readonly Channel<PendingFrame> _channel = Channel.CreateBounded<PendingFrame>(
        new BoundedChannelOptions(options.Ingest.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    public ChannelReader<PendingFrame> Reader => _channel.Reader;

    public async ValueTask<PendingFrame> EnqueueAsync(FrameRow row, CancellationToken cancellationToken)
    {
        var pending = new PendingFrame(row);
        await _channel.Writer.WriteAsync(pending, cancellationToken);
        return pending;
    }
}
