namespace YoloFleet.Inference;

/// <summary>
/// Settings for <see cref="Detector.Open"/>. The detector copies them when it opens, so changing an instance
/// afterwards does not affect a detector that is already open.
/// </summary>
public sealed class DetectorOptions
{
    /// <summary>Candidates scoring below this are dropped before any box maths.</summary>
    public float ConfidenceThreshold { get; set; } = 0.25f;

    /// <summary>A box is suppressed when its IoU with a higher-scoring kept box is above this.</summary>
    public float NmsIouThreshold { get; set; } = 0.45f;

    public int MaxDetections { get; set; } = 300;

    /// <summary>When true, boxes of different classes suppress each other too.</summary>
    public bool ClassAgnosticNms { get; set; }

    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime use one per physical core.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's worker threads busy-wait between operators. Spinning shaves a little latency but burns
    /// CPU that a Pi shares with the camera and MQTT, so it is off by default (session.intra_op.allow_spinning = "0").
    /// </summary>
    public bool AllowSpinning { get; set; }

    internal void Validate()
    {
        if (!(ConfidenceThreshold is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(ConfidenceThreshold), ConfidenceThreshold, "ConfidenceThreshold must be between 0 and 1.");
        }

        if (!(NmsIouThreshold is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(NmsIouThreshold), NmsIouThreshold, "NmsIouThreshold must be between 0 and 1.");
        }

        if (MaxDetections <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDetections), MaxDetections, "MaxDetections must be at least 1.");
        }

        if (IntraOpThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be 0 (ONNX Runtime's default) or more.");
        }
    }
}
