using System.ComponentModel.DataAnnotations;
using YoloFleet.Contracts;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Configuration section "Agent:Batching": whether consecutive frames' detections go out as one MQTT message
/// (topic <c>detections-batch</c>). Off by default (one message per frame). Batching trades latency for fewer messages:
/// less broker, radio and cloud work per frame, and a backlog after an outage drains in far fewer round trips.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>Frames per message at most; 1 turns batching off.</summary>
    [Range(1, ProtocolLimits.MaxFramesPerBatch)]
    public int MaxFrames { get; set; } = 1;

    /// <summary>
    /// How long the first frame of a batch may wait for more frames, counted from when it entered the outbox. A backlog
    /// (frames already older than this) is sent at once, in full batches.
    /// </summary>
    [Range(0, 10_000)]
    public int MaxDelayMs { get; set; } = 500;

    public bool Enabled => MaxFrames > 1;
}
