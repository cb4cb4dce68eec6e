using System.CommandLine;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet detect`: run a model over an image, a folder of images or a video, and write annotated JPEGs and/or the
/// detections as JSON.
/// </summary>
internal static class DetectVerb
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var manifest = new Option<string?>("--manifest") { Description = "Model manifest (default: <model>.manifest.json beside the model, if present)." };
        var input = new Option<string>("--input", "-i") { Description = "An image, a folder of images, or a video file.", Required = true };
        var output = new Option<string?>("--output", "-o") { Description = $"Folder for annotated JPEGs and {DetectionRun.JsonFileName} (a JSON array, one object per frame)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per frame on stdout, one per line (JSON Lines)." };
        var confidence = new Option<float?>("--conf") { Description = "Confidence threshold 0..1 (default: the model's, else 0.25)." };
        var iou = new Option<float?>("--iou") { Description = "NMS IoU threshold 0..1 (default: the model's, else 0.45)." };
        var logLevel = new Option<OnnxRuntimeLogLevel>("--ort-log-level") { Description = "Least severe ONNX Runtime message shown.", DefaultValueFactory = _ => OnnxRuntimeLogLevel.Error };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads (0: ONNX Runtime's default).", DefaultValueFactory = _ => Environment.ProcessorCount };

        var command = new Command("detect", "Detect objects in an image, a folder of images or a video; write annotated JPEGs and/or JSON.")
        {
            model, manifest, input, output, json, confidence, iou, threads, logLevel,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            try
            {
                var options = new DetectorOptions { IntraOpThreads = parse.GetValue(threads), LogLevel = parse.GetValue(logLevel) };
                if (parse.GetValue(confidence) is { } conf)
                {
                    options.ConfidenceThreshold = conf;
                }

                if (parse.GetValue(iou) is { } nms)
                {
                    options.NmsIouThreshold = nms;
                }

                var inputPath = parse.GetValue(input)!;
                var outputFolder = parse.GetValue(output);
                var jsonLines = parse.GetValue(json);
                using var frames = FrameInput.Open(inputPath);
                var manifestPath = parse.GetValue(manifest);
                using var detector = Detector.Open(
                    parse.GetValue(model) ?? SharedData.YoloxNano416, options, manifestPath is null ? null : ModelManifest.Load(manifestPath));
                var runOptions = new DetectionRunOptions
                {
                    OutputFolder = outputFolder,
                    JsonLines = jsonLines ? Console.Out : null,
                    // Without --json the frames are listed readably, unless they all go to files.
                    Text = jsonLines || outputFolder is not null ? null : Console.Out,
                    Progress = frames.Kind == FrameInputKind.Image ? null : line => Console.Error.WriteLine("detect: " + line),
                };
                var summary = DetectionRun.Run(detector, frames, runOptions, cancellationToken);
                foreach (var (file, reason) in summary.Skipped)
                {
                    Console.Error.WriteLine($"warning: skipped {file}: {reason}");
                }

                if (outputFolder is not null && !jsonLines)
                {
                    Console.Out.WriteLine($"{summary.Frames} frames, {summary.Detections} detections: {summary.AnnotatedWritten} annotated JPEGs and {summary.JsonPath}");
                }

                // A folder with unreadable images still gives results for the rest, but a script should notice.
                return Task.FromResult(summary.Skipped.Count > 0 ? 1 : 0);
            }
            catch (Exception ex) when (ex is ModelLoadException or ImageReadException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine("error: " + BenchVerb.DescribeError(ex));
                return Task.FromResult(2);
            }
        });
        return command;
    }
}
