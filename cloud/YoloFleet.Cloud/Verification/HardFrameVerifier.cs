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

    /// <summary>The verdict for one frame, or null when its JPEG cannot be decoded.</summary>
    public VerificationRecord? Verify(HardFrameRow frame)
    {
        var started = Stopwatch.GetTimestamp();
        using var image = Cv2.ImDecode(frame.Jpeg.Span, ImreadModes.Color);
        if (image.Empty())
        {
            return null;
        }

        detector.Detect(image, _reference);
        var edge = new Detection[frame.EdgeDetections.Length];
        for (var i = 0; i < edge.Length; i++)
        {
            var d = frame.EdgeDetections[i];
            edge[i] = new Detection(d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2);
        }

        var match = BoxMatcher.Match(edge, _reference);
        return new VerificationRecord
        {
            DeviceId = frame.DeviceId,
            Sequence = frame.Sequence,
            ModelVersion = frame.ModelVersion,
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
