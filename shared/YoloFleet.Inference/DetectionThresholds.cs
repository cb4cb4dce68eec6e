namespace YoloFleet.Inference;

/// <summary>
/// The score and NMS settings a detector runs with. Each comes from, in order: the <see cref="DetectorOptions"/>
/// property the caller set, else the model manifest's <c>thresholds</c>, else <see cref="Default"/>.
/// </summary>
/// <param name="Confidence">Candidates scoring below this are dropped before any box maths.</param>
/// <param name="NmsIou">A box is suppressed when its IoU with a higher-scoring kept box is above this.</param>
/// <param name="MaxDetections">At most this many detections per frame, best first.</param>
/// <param name="ClassAgnostic">When true, boxes of different classes suppress each other too.</param>
public sealed record DetectionThresholds(float Confidence, float NmsIou, int MaxDetections, bool ClassAgnostic)
{
    /// <summary>The built-in defaults: confidence 0.25, NMS IoU 0.45, 300 detections, per-class NMS.</summary>
    public static DetectionThresholds Default { get; } = new(0.25f, 0.45f, 300, ClassAgnostic: false);
}
