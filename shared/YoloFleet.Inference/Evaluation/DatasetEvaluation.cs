using System.Diagnostics;
using System.Runtime.InteropServices;

namespace YoloFleet.Inference.Evaluation;

/// <summary>How far an evaluation has got.</summary>
public readonly record struct EvaluationProgress(int Done, int Total, TimeSpan Elapsed)
{
    public double ImagesPerSecond => Elapsed > TimeSpan.Zero ? Done / Elapsed.TotalSeconds : 0;
}

/// <summary>Runs a detector over a labelled image set and scores it, one image in memory at a time.</summary>
public static class DatasetEvaluation
{
    /// <summary>
    /// Decodes each image of <paramref name="groundTruth"/> (the first <paramref name="limit"/>, if given), detects, and
    /// adds the outcome to a <see cref="CocoDetectionEvaluator"/>. The detector's own options (confidence, NMS, its
    /// maximum detections) apply first; the evaluator then keeps the best <paramref name="maxDetectionsPerImage"/>.
    /// </summary>
    /// <param name="progress">Called after every <paramref name="progressInterval"/> images and after the last one.</param>
    /// <exception cref="ImageReadException">An image cannot be decoded.</exception>
    /// <exception cref="InvalidDataException">An image's labels are malformed or do not fit it.</exception>
    public static EvaluationResult Run(
        Detector detector,
        GroundTruthSource groundTruth,
        int maxDetectionsPerImage = CocoDetectionEvaluator.DefaultMaxDetectionsPerImage,
        int? limit = null,
        Action<EvaluationProgress>? progress = null,
        int progressInterval = 16,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(groundTruth);
        ArgumentOutOfRangeException.ThrowIfLessThan(progressInterval, 1);
        if (limit is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, "The image limit must be at least 1.");
        }

        var images = groundTruth.Images;
        var total = limit is { } most ? Math.Min(most, images.Count) : images.Count;
        var evaluator = new CocoDetectionEvaluator(maxDetectionsPerImage);
        var detections = new List<Detection>(capacity: maxDetectionsPerImage);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var image = images[i];
            using (var frame = ImageFile.Read(image.Path))
            {
                var truth = groundTruth.Read(image, frame.Width, frame.Height);
                detector.Detect(frame, detections);
                evaluator.AddImage(AsSpan(truth), CollectionsMarshal.AsSpan(detections));
            }

            if (progress is not null && ((i + 1) % progressInterval == 0 || i + 1 == total))
            {
                progress(new EvaluationProgress(i + 1, total, Stopwatch.GetElapsedTime(started)));
            }
        }

        return evaluator.Evaluate();
    }

    private static ReadOnlySpan<GroundTruthBox> AsSpan(IReadOnlyList<GroundTruthBox> boxes) => boxes switch
    {
        List<GroundTruthBox> list => CollectionsMarshal.AsSpan(list),
        GroundTruthBox[] array => array,
        _ => boxes.ToArray(),
    };
}
