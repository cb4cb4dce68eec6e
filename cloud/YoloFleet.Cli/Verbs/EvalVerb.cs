using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using YoloFleet.Inference;
using YoloFleet.Inference.Evaluation;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet eval`: COCO mAP (overall, by IoU and by object size) of a model on a labelled image folder, with the reference protocol's settings by default
/// (confidence 0.001, NMS IoU 0.65 per class, at most 100 detections per image).
/// </summary>
internal static class EvalVerb
{
    private const string YoloLabels = "yolo";
    private const string CocoJsonLabels = "coco-json";

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var manifest = new Option<string?>("--manifest") { Description = "Model manifest (default: <model>.manifest.json beside the model, if present); its thresholds never replace the evaluation protocol's." };
        var data = new Option<string?>("--data", "-d") { Description = "Image folder (default: ../shared/datasets/coco128/images)." };
        var labels = new Option<string?>("--labels")
        {
            Description = $"Ground truth format: '{YoloLabels}' (YOLO text files, by default in 'labels' beside the image folder) or '{CocoJsonLabels}' " +
                $"(COCO instances JSON, by default the one .json file in 'annotations' beside the image folder). Default: {CocoJsonLabels} when --annotations is a .json file, else {YoloLabels}.",
        };
        var annotations = new Option<string?>("--annotations", "-a") { Description = "The COCO instances JSON file, or for YOLO labels the folder holding <image>.txt." };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on stdout (progress still goes to stderr)." };
        var confidence = new Option<float>("--conf") { Description = "Confidence threshold 0..1.", DefaultValueFactory = _ => 0.001f };
        var iou = new Option<float>("--iou") { Description = "NMS IoU threshold 0..1.", DefaultValueFactory = _ => 0.65f };
        var maxDetections = new Option<int>("--max-det") { Description = "Detections kept per image, best first (COCO's maxDets).", DefaultValueFactory = _ => CocoDetectionEvaluator.DefaultMaxDetectionsPerImage };
        var agnostic = new Option<bool>("--agnostic-nms") { Description = "Let boxes of different classes suppress each other (default: per-class NMS)." };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads (0: ONNX Runtime's default).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var limit = new Option<int?>("--limit", "-n") { Description = "Evaluate only the first N images (in file-name order; COCO JSON: image id order)." };

        var command = new Command("eval", "COCO mAP@[.5:.95], mAP@.5, mAP by object size (small, medium, large) and per-class AP of a model on a labelled image folder.")
        {
            model, manifest, data, labels, annotations, json, confidence, iou, maxDetections, agnostic, threads, limit,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new EvalSettings(
                parse.GetValue(model),
                parse.GetValue(manifest),
                parse.GetValue(data),
                parse.GetValue(labels),
                parse.GetValue(annotations),
                parse.GetValue(json),
                parse.GetValue(confidence),
                parse.GetValue(iou),
                parse.GetValue(maxDetections),
                parse.GetValue(agnostic),
                parse.GetValue(threads),
                parse.GetValue(limit));
            try
            {
                return Run(settings, cancellationToken);
            }
            catch (Exception ex) when (ex is ModelLoadException or ImageReadException or DirectoryNotFoundException or FileNotFoundException
                or InvalidDataException or ArgumentException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
            catch (OperationCanceledException)
            {
                await Console.Error.WriteLineAsync("eval: cancelled");
                return 130;
            }
        });
        return command;
    }

    private sealed record EvalSettings(
        string? ModelPath, string? ManifestPath, string? ImageFolder, string? Labels, string? Annotations, bool Json,
        float Confidence, float NmsIou, int MaxDetections, bool ClassAgnosticNms, int Threads, int? Limit);

    private static int Run(EvalSettings settings, CancellationToken cancellationToken)
    {
        Validate(settings);
        var groundTruth = OpenGroundTruth(settings);
        var options = new DetectorOptions
        {
            // Every threshold set explicitly, so that a model manifest's serving thresholds cannot change the protocol.
            ConfidenceThreshold = settings.Confidence,
            NmsIouThreshold = settings.NmsIou,
            MaxDetections = settings.MaxDetections,
            ClassAgnosticNms = settings.ClassAgnosticNms,
            IntraOpThreads = settings.Threads,
        };
        using var detector = Detector.Open(
            settings.ModelPath ?? SharedData.YoloxNano416, options, settings.ManifestPath is null ? null : ModelManifest.Load(settings.ManifestPath));
        var model = detector.Model;
        if (groundTruth is CocoJsonGroundTruth coco && coco.CategoryIds.Count != model.ClassNames.Count)
        {
            throw new InvalidDataException(
                $"'{coco.AnnotationsPath}' has {coco.CategoryIds.Count} categories but the model has {model.ClassNames.Count} classes, so category ids cannot be mapped to class ids by rank. " +
                "Use annotations with the model's classes.");
        }

        var total = settings.Limit is { } most ? Math.Min(most, groundTruth.Images.Count) : groundTruth.Images.Count;
        Console.Error.WriteLine($"eval: {model.Version} on {total} images from {Path.GetDirectoryName(groundTruth.Images[0].Path)}; ground truth: {groundTruth.Description}");
        var started = Stopwatch.GetTimestamp();
        var result = DatasetEvaluation.Run(
            detector, groundTruth, settings.MaxDetections, settings.Limit,
            progress => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eval: {progress.Done}/{progress.Total} images, {progress.ImagesPerSecond:F1} img/s")),
            cancellationToken: cancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(started);

        if (settings.Json)
        {
            WriteJson(settings, groundTruth, model, result, elapsed);
        }
        else
        {
            WriteTable(settings, groundTruth, model, result, elapsed);
        }

        return 0;
    }

    private static void Validate(EvalSettings settings)
    {
        if (!(settings.Confidence is >= 0f and <= 1f))
        {
            throw new ArgumentException($"--conf must be between 0 and 1; got {settings.Confidence.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (!(settings.NmsIou is >= 0f and <= 1f))
        {
            throw new ArgumentException($"--iou must be between 0 and 1; got {settings.NmsIou.ToString(CultureInfo.InvariantCulture)}.");
        }

        if (settings.MaxDetections < 1)
        {
            throw new ArgumentException($"--max-det must be at least 1; got {settings.MaxDetections}.");
        }

        if (settings.Limit is < 1)
        {
            throw new ArgumentException($"--limit must be at least 1; got {settings.Limit}.");
        }

        if (settings.Threads < 0)
        {
            throw new ArgumentException($"--threads must be 0 (ONNX Runtime's default) or more; got {settings.Threads}.");
        }

        if (settings.Labels is not (null or YoloLabels or CocoJsonLabels))
        {
            throw new ArgumentException($"--labels must be '{YoloLabels}' or '{CocoJsonLabels}'; got '{settings.Labels}'.");
        }
    }

    private static GroundTruthSource OpenGroundTruth(EvalSettings settings)
    {
        var imageFolder = Path.GetFullPath(settings.ImageFolder ?? SharedData.Coco128Images);
        if (!Directory.Exists(imageFolder))
        {
            throw new DirectoryNotFoundException($"Image folder not found: '{imageFolder}'. Pass --data with a folder of images.");
        }

        var format = settings.Labels
            ?? (settings.Annotations is { } given && given.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? CocoJsonLabels : YoloLabels);
        if (format == YoloLabels)
        {
            return YoloLabelGroundTruth.Open(imageFolder, settings.Annotations);
        }

        return CocoJsonGroundTruth.Open(imageFolder, settings.Annotations ?? FindCocoJson(imageFolder));
    }

    /// <summary>The one .json file in the "annotations" folder beside the image folder (COCO's own layout).</summary>
    private static string FindCocoJson(string imageFolder)
    {
        var folder = Path.Combine(Path.GetDirectoryName(imageFolder) ?? imageFolder, "annotations");
        if (!Directory.Exists(folder))
        {
            throw new FileNotFoundException(
                $"No COCO annotations given, and there is no '{folder}' folder beside the images to look in. Pass --annotations instances.json.");
        }

        var candidates = Directory.GetFiles(folder, "*.json");
        return candidates.Length == 1
            ? candidates[0]
            : throw new FileNotFoundException(
                $"No COCO annotations given, and '{folder}' holds {candidates.Length} .json files rather than one. Pass --annotations instances.json.");
    }

    private static string ClassName(ModelInfo model, int classId) =>
        classId >= 0 && classId < model.ClassNames.Count ? model.ClassNames[classId] : $"class{classId}";

    private static void WriteJson(EvalSettings settings, GroundTruthSource groundTruth, ModelInfo model, EvaluationResult result, TimeSpan elapsed)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            writer.WriteStartObject();
            writer.WriteString("model", model.Path);
            writer.WriteString("modelVersion", model.Version);
            writer.WriteString("labels", groundTruth is CocoJsonGroundTruth ? CocoJsonLabels : YoloLabels);
            writer.WriteString("annotations", groundTruth switch
            {
                CocoJsonGroundTruth coco => coco.AnnotationsPath,
                YoloLabelGroundTruth yolo => yolo.LabelFolder,
                _ => groundTruth.Description,
            });
            writer.WriteNumber("images", result.Images);
            writer.WriteNumber("detections", result.Detections);
            writer.WriteNumber("mAP", result.MeanAp);
            writer.WriteNumber("mAP50", result.MeanAp50);
            // pycocotools' APs, APm, APl: -1 when the images hold no object of that size.
            writer.WriteNumber("mapSmall", result.MeanApSmall);
            writer.WriteNumber("mapMedium", result.MeanApMedium);
            writer.WriteNumber("mapLarge", result.MeanApLarge);
            writer.WriteStartObject("objectsBySize");
            writer.WriteNumber("small", result.SmallObjects);
            writer.WriteNumber("medium", result.MediumObjects);
            writer.WriteNumber("large", result.LargeObjects);
            writer.WriteEndObject();
            writer.WriteStartArray("perClass");
            foreach (var entry in result.PerClass)
            {
                writer.WriteStartObject();
                writer.WriteNumber("classId", entry.ClassId);
                writer.WriteString("name", ClassName(model, entry.ClassId));
                writer.WriteNumber("ap", entry.Ap);
                writer.WriteNumber("ap50", entry.Ap50);
                writer.WriteNumber("groundTruth", entry.GroundTruth);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteNumber("conf", settings.Confidence);
            writer.WriteNumber("iou", settings.NmsIou);
            writer.WriteNumber("maxDet", settings.MaxDetections);
            writer.WriteBoolean("agnosticNms", settings.ClassAgnosticNms);
            writer.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));
            writer.WriteEndObject();
        }

        stdout.Write("\n"u8);
    }

    private static string SizeMap(double map) => map < 0 ? "n/a" : map.ToString("F3", CultureInfo.InvariantCulture);

    private static void WriteTable(EvalSettings settings, GroundTruthSource groundTruth, ModelInfo model, EvaluationResult result, TimeSpan elapsed)
    {
        var output = Console.Out;
        var invariant = CultureInfo.InvariantCulture;
        output.WriteLine($"model         {model.Version} ({model.Layout}, {model.InputWidth}x{model.InputHeight})");
        output.WriteLine($"ground truth  {groundTruth.Description}");
        output.WriteLine(string.Create(invariant,
            $"settings      conf {settings.Confidence}, NMS IoU {settings.NmsIou} ({(settings.ClassAgnosticNms ? "class-agnostic" : "per class")}), at most {settings.MaxDetections} detections per image"));
        output.WriteLine(string.Create(invariant,
            $"images        {result.Images}, {result.Detections} detections, {elapsed.TotalSeconds:F1} s ({(elapsed > TimeSpan.Zero ? result.Images / elapsed.TotalSeconds : 0):F1} img/s)"));
        output.WriteLine();
        if (result.PerClass.Count == 0)
        {
            output.WriteLine("No class has ground-truth objects in these images: mAP is undefined (-1, as pycocotools).");
            return;
        }

        output.WriteLine(string.Create(invariant, $"mAP@[.50:.95]  {result.MeanAp:F3}"));
        output.WriteLine(string.Create(invariant, $"mAP@.50        {result.MeanAp50:F3}"));
        output.WriteLine(string.Create(invariant,
            $"mAP by size    small {SizeMap(result.MeanApSmall)} ({result.SmallObjects} objects < 32²), medium {SizeMap(result.MeanApMedium)} ({result.MediumObjects}), large {SizeMap(result.MeanApLarge)} ({result.LargeObjects} > 96²)"));
        output.WriteLine();
        output.WriteLine("   id  class                  GT      AP    AP50");
        foreach (var entry in result.PerClass)
        {
            output.WriteLine(string.Create(invariant,
                $"  {entry.ClassId,3}  {ClassName(model, entry.ClassId),-20} {entry.GroundTruth,4}  {entry.Ap,6:F3}  {entry.Ap50,6:F3}"));
        }
    }
}
