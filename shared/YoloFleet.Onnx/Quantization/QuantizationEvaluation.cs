using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Onnx.Quantization;

/// <summary>The before/after figures of a quantization: latency from the bench path, mAP from the COCO evaluator.</summary>
public static class QuantizationEvaluation
{
    /// <summary>
    /// Median whole-frame latency (pre-processing, model, decode, NMS) of both models, measured alternately in blocks
    /// in one process by <see cref="DetectorBenchmark"/>, as `yolofleet bench --model A --compare B` does.
    /// </summary>
    public static BeforeAfter Latency(string fp32Path, string int8Path, string imageFolder, int frames, int threads, Action<string>? progress = null)
    {
        // Errors only: ONNX Runtime warns about every unused initializer of old exports (PicoDet has 60).
        var options = new DetectorOptions { IntraOpThreads = threads, LogLevel = OnnxRuntimeLogLevel.Error };
        var settings = new BenchmarkSettings { Frames = frames, Warmup = Math.Max(5, frames / 10), BlockSize = 10, Threads = threads };
        settings.Validate();
        using var images = BenchmarkImages.FromFolder(imageFolder, 16, keepEncoded: false);
        using var fp32 = Detector.Open(fp32Path, options);
        using var int8 = Detector.Open(int8Path, options);
        var report = DetectorBenchmark.Run(fp32, int8, images, settings, line => progress?.Invoke("bench: " + line));
        return new BeforeAfter(report.Primary.Latency.P50, report.Compare!.Latency.P50);
    }

    /// <summary>
    /// COCO mAP@[.5:.95] and mAP@.5 of both models on a labelled folder (COCO JSON beside it, else YOLO labels), leaving
    /// out <paramref name="excludeImages"/> (the calibration images, so that the figures are on held-out images).
    /// </summary>
    public static (BeforeAfter MeanAp, BeforeAfter MeanAp50, string Description) MeanAveragePrecision(
        string fp32Path, string int8Path, string imageFolder, int? limit, int threads, Action<string>? progress = null,
        IReadOnlyCollection<string>? excludeImages = null)
    {
        var groundTruth = OpenGroundTruth(imageFolder);
        if (excludeImages is { Count: > 0 })
        {
            groundTruth = groundTruth.Without(excludeImages);
            if (groundTruth.Images.Count == 0)
            {
                throw new ArgumentException($"Every image of '{imageFolder}' was used for calibration, so none is left to evaluate on; pass --eval with other images.");
            }
        }

        var options = EvaluationOptions(threads);
        EvaluationResult Evaluate(string path, string label)
        {
            using var detector = Detector.Open(path, options);
            return DatasetEvaluation.Run(detector, groundTruth, limit: limit,
                progress: step => progress?.Invoke($"eval {label}: {step.Done}/{step.Total} images"), progressInterval: 32);
        }

        var before = Evaluate(fp32Path, "fp32");
        var after = Evaluate(int8Path, "int8");
        var heldOut = excludeImages is { Count: > 0 } ? " held out from calibration" : "";
        return (new BeforeAfter(before.MeanAp, after.MeanAp), new BeforeAfter(before.MeanAp50, after.MeanAp50), $"{before.Images} images{heldOut}, {groundTruth.Description}");
    }

    /// <summary>The evaluation protocol's detector settings, as `yolofleet eval` uses by default (conf 0.001, NMS IoU 0.65, 100 per image).</summary>
    public static DetectorOptions EvaluationOptions(int threads) => new()
    {
        ConfidenceThreshold = 0.001f,
        NmsIouThreshold = 0.65f,
        MaxDetections = CocoDetectionEvaluator.DefaultMaxDetectionsPerImage,
        IntraOpThreads = threads,
        LogLevel = OnnxRuntimeLogLevel.Error,
    };

    /// <summary>
    /// Labelled images of <paramref name="imageFolder"/> without <paramref name="excludeImages"/>, or null when the folder
    /// has no labels the evaluator reads.
    /// </summary>
    public static GroundTruthSource? HeldOutGroundTruth(string imageFolder, IReadOnlyCollection<string> excludeImages) =>
        HasLabels(imageFolder) ? OpenGroundTruth(imageFolder).Without(excludeImages) : null;

    /// <summary>Whether <paramref name="imageFolder"/> has labels the evaluator reads (COCO JSON in ../annotations, or YOLO labels).</summary>
    public static bool HasLabels(string imageFolder)
    {
        try
        {
            return OpenGroundTruth(imageFolder).Images.Count > 0;
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or InvalidDataException or FileNotFoundException or ArgumentException)
        {
            return false;
        }
    }

    private static GroundTruthSource OpenGroundTruth(string imageFolder)
    {
        var folder = Path.GetFullPath(imageFolder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Evaluation folder not found: '{folder}'. Pass --eval with a labelled image folder.");
        }

        var annotations = Path.Combine(Path.GetDirectoryName(folder) ?? folder, "annotations");
        var json = Directory.Exists(annotations) ? Directory.GetFiles(annotations, "*.json") : [];
        return json.Length == 1 ? CocoJsonGroundTruth.Open(folder, json[0]) : YoloLabelGroundTruth.Open(folder);
    }
}
