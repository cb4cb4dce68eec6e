using System.Diagnostics;
using OpenCvSharp;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Inference;
using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Cloud.Verification;

/// <summary>
/// One verifier worker's engine: decodes the hard frame's JPEG, runs the cloud model on it with the same pre- and
/// post-processing as the edge (<see cref="Detector"/>), and matches the edge's boxes against its output. Not
/// thread-safe (one detector); each worker owns one.
/// </summary>
public sealed class HardFrameVerifier(Detector detector, TimeProvider time) : IDisposable
{
    private readonly List<Detection> _reference = new(128);

    public string VerifierModel => detector.Model.Version;

    /// <summary>
    /// The verdicts for one frame, or null when its JPEG cannot be decoded: one for the boxes of the model that ran it live
    /// (role edge), and a second for a candidate's boxes when it ran the frame in shadow (role shadow), both against the
    /// same FP32 run.
    /// </summary>
    public IReadOnlyList<VerificationRecord>? Verify(HardFrameRow frame)
    {
        var started = Stopwatch.GetTimestamp();
        using var image = Cv2.ImDecode(frame.Jpeg.Span, ImreadModes.Color);
        if (image.Empty())
        {
            return null;
        }

        detector.Detect(image, _reference);
        var verdicts = new List<VerificationRecord>(2)
        {
            Judge(frame, VerificationRecord.EdgeRole, frame.ModelVersion, frame.ModelSha256, frame.EdgeDetections, started),
        };
        if (frame.ShadowModelSha256.Length > 0)
        {
            verdicts.Add(Judge(frame, VerificationRecord.ShadowRole, frame.ShadowModelVersion, frame.ShadowModelSha256, frame.ShadowDetections ?? [], started));
        }

        return verdicts;
    }

    private VerificationRecord Judge(HardFrameRow frame, string role, string modelVersion, string modelSha256, DetectionRow[] boxes, long started)
    {
        var edge = new Detection[boxes.Length];
        for (var i = 0; i < edge.Length; i++)
        {
            var d = boxes[i];
            edge[i] = new Detection(d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2);
        }

        var match = BoxMatcher.Match(edge, _reference);
        return new VerificationRecord
        {
            DeviceId = frame.DeviceId,
            Sequence = frame.Sequence,
            Role = role,
            ModelSha256 = modelSha256,
            ModelVersion = modelVersion,
            VerifierModel = VerifierModel,
            CapturedAt = frame.CapturedAt,
            VerifiedAt = time.GetUtcNow(),
            EdgeBoxes = match.EdgeBoxes,
            ReferenceBoxes = match.ReferenceBoxes,
            Matched = match.Matched,
            Precision = match.Precision,
            Recall = match.Recall,
            MeanIou = match.MeanIou,
            MissedClasses = match.MissedClasses,
            CalibrationCount = match.CalibrationCount,
            CalibrationEdgeSum = match.CalibrationEdgeSum,
            CalibrationReferenceSum = match.CalibrationReferenceSum,
            VerifyMs = (float)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
        };
    }

    public void Dispose() => detector.Dispose();
}
