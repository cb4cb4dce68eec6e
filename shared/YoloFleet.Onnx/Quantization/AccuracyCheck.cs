using System.Security.Cryptography;
using OpenCvSharp;
using YoloFleet.Inference;
using YoloFleet.Inference.Evaluation;
using YoloFleet.Inference.Manifest;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>One measurement of a candidate INT8 model against FP32 on frames held out from calibration.</summary>
/// <param name="Metric">What was measured: "mAP@[.5:.95]" (labels) or "agreement mAP@[.5:.95] with FP32" (no labels).</param>
/// <param name="Fp32">The FP32 model's figure (1 for agreement: FP32 agrees with itself).</param>
/// <param name="Int8">The INT8 model's figure.</param>
public sealed record AccuracyMeasurement(string Metric, double Fp32, double Int8, int Frames)
{
    /// <summary>What INT8 lost (negative when it gained).</summary>
    public double Loss => Fp32 - Int8;
}

/// <summary>
/// Measures how much accuracy an INT8 candidate lost against its FP32 parent on frames the quantizer did not calibrate
/// on. <see cref="ModelQuantizer"/> keeps more layers in FP32 while the loss is above <see cref="Guard"/>, so that a
/// user who gives no option gets a model that kept its accuracy (docs/quantization.md, "The accuracy guard").
/// </summary>
public interface IAccuracyCheck : IDisposable
{
    /// <summary>The frames and the metric, for the report.</summary>
    string Description { get; }

    /// <summary>The largest loss the quantizer accepts.</summary>
    double Guard { get; }

    AccuracyMeasurement Measure(ModelProto int8);
}

/// <summary>
/// The candidate's COCO mAP@[.5:.95] on labelled images held out from calibration, against FP32's on the same images.
/// The guard is half of the 0.010 tolerance the report judges by: on about a hundred images, float rounding alone moves
/// YOLOX-Nano's INT8 mAP by up to 0.008 (docs/quantization.md), so a model that only just passes here could miss on
/// other images.
/// </summary>
public sealed class HeldOutMeanApCheck : IAccuracyCheck
{
    public const double DefaultGuard = QuantizationReport.MeanApTolerance / 2;

    private readonly string _fp32Path;
    private readonly GroundTruthSource _groundTruth;
    private readonly DetectorOptions _options;
    private readonly ModelManifest? _manifest;
    private readonly string _scratch = Directory.CreateTempSubdirectory("yolofleet-accuracy-").FullName;
    private double? _fp32;

    /// <param name="fp32Path">The FP32 model file.</param>
    /// <param name="groundTruth">Labelled images, already without the calibration images (<see cref="GroundTruthSource.Without"/>).</param>
    /// <param name="manifest">The FP32 model's manifest (its preprocessing and layout apply to the candidate too); null: beside the model, or inferred.</param>
    public HeldOutMeanApCheck(string fp32Path, GroundTruthSource groundTruth, int threads, double guard = DefaultGuard, ModelManifest? manifest = null)
    {
        ArgumentNullException.ThrowIfNull(groundTruth);
        if (groundTruth.Images.Count == 0)
        {
            throw new ArgumentException("No labelled image is left for the accuracy check once the calibration images are taken out.", nameof(groundTruth));
        }

        _fp32Path = fp32Path;
        _groundTruth = groundTruth;
        _manifest = manifest;
        Guard = guard;
        _options = QuantizationEvaluation.EvaluationOptions(threads);
        Description = $"mAP@[.5:.95] on {groundTruth.Images.Count} labelled images held out from calibration ({groundTruth.Description})";
    }

    public string Description { get; }

    public double Guard { get; }

    /// <summary>
    /// The check on <paramref name="folder"/>'s labelled images other than <paramref name="calibrationFiles"/>; null when
    /// the folder has no labels the evaluator reads, or every labelled image was used for calibration.
    /// </summary>
    public static HeldOutMeanApCheck? ForFolder(
        string fp32Path, string folder, IReadOnlyCollection<string> calibrationFiles, int threads, ModelManifest? manifest = null) =>
        QuantizationEvaluation.HeldOutGroundTruth(folder, calibrationFiles) is { Images.Count: > 0 } heldOut
            ? new HeldOutMeanApCheck(fp32Path, heldOut, threads, manifest: manifest)
            : null;

    public AccuracyMeasurement Measure(ModelProto int8)
    {
        _fp32 ??= Evaluate(_fp32Path, _manifest);
        var path = Path.Combine(_scratch, "candidate.onnx");
        OnnxModelFile.Save(int8, path);
        return new AccuracyMeasurement("mAP@[.5:.95]", _fp32.Value, Evaluate(path, CandidateManifest.For(_manifest, path)), _groundTruth.Images.Count);
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private double Evaluate(string modelPath, ModelManifest? manifest)
    {
        using var detector = Detector.Open(modelPath, _options, manifest);
        return DatasetEvaluation.Run(detector, _groundTruth).MeanAp;
    }
}

/// <summary>The parent's manifest made to describe a candidate file: same layout and preprocessing, the candidate's hash and size.</summary>
internal static class CandidateManifest
{
    public static ModelManifest? For(ModelManifest? parent, string candidatePath)
    {
        if (parent is null)
        {
            return null;
        }

        using var stream = File.OpenRead(candidatePath);
        return parent with
        {
            Model = new ManifestModelFile { File = Path.GetFileName(candidatePath), Sha256 = Convert.ToHexStringLower(SHA256.HashData(stream)), SizeBytes = stream.Length },
            Precision = "int8",
            Lineage = null,
            Signature = null,
        };
    }
}

/// <summary>
/// Without labels (the fleet's hard frames): the FP32 model's own detections (at its confidence threshold) stand in for
/// the labels, and the candidate is scored against them with the COCO evaluator. FP32 agrees with itself perfectly, so
/// the loss is 1 - the candidate's agreement mAP. Agreement is stricter than accuracy: it also counts box jitter and
/// borderline objects that do not change real mAP, so its guard is larger (docs/quantization.md has both models'
/// figures side by side).
/// </summary>
public sealed class FloatAgreementCheck : IAccuracyCheck
{
    /// <summary>The default guard: agreement mAP at least 0.75 (docs/quantization.md, "The accuracy guard").</summary>
    public const double DefaultGuard = 0.25;

    private readonly IReadOnlyList<byte[]> _frames;
    private readonly DetectorOptions _options;
    private readonly ModelManifest? _manifest;
    private readonly string _scratch = Directory.CreateTempSubdirectory("yolofleet-agreement-").FullName;
    private readonly List<GroundTruthBox[]> _reference = [];

    /// <param name="fp32Path">The FP32 model file.</param>
    /// <param name="encodedFrames">Held-out frames as encoded images (JPEG or PNG bytes).</param>
    /// <param name="manifest">The FP32 model's manifest (its thresholds, preprocessing and layout apply to the candidate too); null: beside the model, or inferred.</param>
    public FloatAgreementCheck(string fp32Path, IReadOnlyList<byte[]> encodedFrames, int threads, double guard = DefaultGuard, ModelManifest? manifest = null)
    {
        ArgumentNullException.ThrowIfNull(encodedFrames);
        if (encodedFrames.Count == 0)
        {
            throw new ArgumentException("The agreement check needs at least one held-out frame.", nameof(encodedFrames));
        }

        _frames = encodedFrames;
        _manifest = manifest;
        Guard = guard;
        _options = QuantizationEvaluation.EvaluationOptions(threads);

        // FP32's confident boxes, at the model's own (manifest or default) threshold, are the reference.
        using var fp32 = Detector.Open(fp32Path, new DetectorOptions { IntraOpThreads = threads, LogLevel = OnnxRuntimeLogLevel.Error }, manifest);
        var detections = new List<Detection>();
        foreach (var frame in encodedFrames)
        {
            using var image = Decode(frame);
            fp32.Detect(image, detections);
            _reference.Add([.. detections.Select(d => new GroundTruthBox(d.ClassId, d.X1, d.Y1, d.X2, d.Y2))]);
        }

        Description = $"agreement mAP@[.5:.95] with FP32's detections on {encodedFrames.Count} frames held out from calibration";
    }

    public string Description { get; }

    public double Guard { get; }

    public AccuracyMeasurement Measure(ModelProto int8)
    {
        var path = Path.Combine(_scratch, "candidate.onnx");
        OnnxModelFile.Save(int8, path);
        using var detector = Detector.Open(path, _options, CandidateManifest.For(_manifest, path));
        var evaluator = new CocoDetectionEvaluator();
        var detections = new List<Detection>();
        for (var i = 0; i < _frames.Count; i++)
        {
            using var image = Decode(_frames[i]);
            detector.Detect(image, detections);
            evaluator.AddImage(_reference[i], System.Runtime.InteropServices.CollectionsMarshal.AsSpan(detections));
        }

        // No class with a reference box: nothing to disagree about.
        var result = evaluator.Evaluate();
        var agreement = result.PerClass.Count == 0 ? 1 : result.MeanAp;
        return new AccuracyMeasurement("agreement mAP@[.5:.95] with FP32", 1, agreement, _frames.Count);
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static Mat Decode(byte[] encoded)
    {
        var image = Cv2.ImDecode(encoded, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new ImageReadException("(held-out frame)", "a held-out frame could not be decoded as an image");
        }

        return image;
    }
}
