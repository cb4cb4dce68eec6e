using System.CommandLine;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet bench`: the detector's speed on this machine, whole frames against the bare model run in the same
/// process, with the edge targets as PASS/FAIL lines. docs/benchmarks.md records its figures and commands.
/// </summary>
internal static class BenchVerb
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var images = new Option<string?>("--images") { Description = "Image folder cycled through (default: ../shared/datasets/coco128/images)." };
        var maxImages = new Option<int>("--max-images") { Description = "Images read from the folder, by name; decoded ones stay resident and count in peak RSS.", DefaultValueFactory = _ => 16 };
        var frames = new Option<int>("--frames", "-n") { Description = "Measured frames per model (and as many bare runs).", DefaultValueFactory = _ => 200 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured frames per model first.", DefaultValueFactory = _ => 20 };
        var block = new Option<int>("--block") { Description = "Frames in a row before switching measurement (pipeline, runOnly, other model).", DefaultValueFactory = _ => 10 };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads (0: ONNX Runtime's default).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var manifest = new Option<string?>("--manifest") { Description = "Model manifest for --model (default: <model>.manifest.json beside it, if present)." };
        var compare = new Option<string?>("--compare") { Description = "A second ONNX model, measured alternately with the first; adds compare and latencyRatio." };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on stdout (progress still goes to stderr)." };
        var includeDecode = new Option<bool>("--include-decode") { Description = "Decode each frame from its JPEG/PNG bytes inside the measured loop." };
        var plainRun = new Option<bool>("--plain-run") { Description = "Also time the bare model through plain session.Run(names, values) instead of the detector's IO binding." };
        var check = new Option<bool>("--check") { Description = "Exit with 1 when a target fails." };
        var spinning = new Option<bool>("--allow-spinning") { Description = "Let ONNX Runtime's threads busy-wait between operators." };
        var interOp = new Option<int>("--inter-op-threads") { Description = "ONNX Runtime inter-op threads (used with --execution parallel).", DefaultValueFactory = _ => 0 };
        var execution = new Option<OperatorExecution>("--execution") { Description = "ONNX Runtime execution mode.", DefaultValueFactory = _ => OperatorExecution.Sequential };
        var optimization = new Option<GraphOptimization>("--graph-optimization") { Description = "ONNX Runtime graph optimisation level.", DefaultValueFactory = _ => GraphOptimization.All };
        var noArena = new Option<bool>("--no-arena") { Description = "Allocate CPU tensors with malloc instead of ONNX Runtime's arena." };
        var noPattern = new Option<bool>("--no-mem-pattern") { Description = "Do not plan intermediate buffers from the first run." };
        var noPrepack = new Option<bool>("--no-prepacking") { Description = "Keep weights as stored instead of repacking them at load." };
        var logLevel = new Option<OnnxRuntimeLogLevel>("--ort-log-level") { Description = "Least severe ONNX Runtime message shown.", DefaultValueFactory = _ => OnnxRuntimeLogLevel.Error };
        var sessionConfig = new Option<string[]>("--session-config")
        {
            Description = "Extra ONNX Runtime session config entry KEY=VALUE (repeatable), e.g. session.use_env_allocators=1.",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("bench", "Measure the detection pipeline against the bare model run, with the edge targets.")
        {
            model, manifest, images, maxImages, frames, warmup, block, threads, compare, json, includeDecode, plainRun, check,
            spinning, interOp, execution, optimization, noArena, noPattern, noPrepack, sessionConfig, logLevel,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            try
            {
                var options = new DetectorOptions
                {
                    IntraOpThreads = parse.GetValue(threads),
                    InterOpThreads = parse.GetValue(interOp),
                    OperatorExecution = parse.GetValue(execution),
                    GraphOptimization = parse.GetValue(optimization),
                    AllowSpinning = parse.GetValue(spinning),
                    CpuMemoryArena = !parse.GetValue(noArena),
                    MemoryPattern = !parse.GetValue(noPattern),
                    Prepacking = !parse.GetValue(noPrepack),
                    LogLevel = parse.GetValue(logLevel),
                };
                foreach (var entry in parse.GetValue(sessionConfig) ?? [])
                {
                    var equals = entry.IndexOf('=', StringComparison.Ordinal);
                    if (equals <= 0)
                    {
                        throw new ArgumentException($"--session-config '{entry}' is not KEY=VALUE.");
                    }

                    options.SessionConfig[entry[..equals]] = entry[(equals + 1)..];
                }

                var settings = new BenchmarkSettings
                {
                    Frames = parse.GetValue(frames),
                    Warmup = parse.GetValue(warmup),
                    BlockSize = parse.GetValue(block),
                    IncludeDecode = parse.GetValue(includeDecode),
                    ComparePlainRun = parse.GetValue(plainRun),
                    Threads = options.IntraOpThreads,
                };
                settings.Validate();
                var maxImageCount = parse.GetValue(maxImages);
                if (maxImageCount < 1)
                {
                    throw new ArgumentOutOfRangeException("MaxImages", maxImageCount, "--max-images must be at least 1.");
                }

                return Task.FromResult(Run(
                    parse.GetValue(model) ?? SharedData.YoloxNano416,
                    parse.GetValue(manifest),
                    parse.GetValue(compare),
                    parse.GetValue(images) ?? SharedData.Coco128Images,
                    maxImageCount,
                    options,
                    settings,
                    parse.GetValue(json),
                    parse.GetValue(check)));
            }
            catch (Exception ex) when (ex is ModelLoadException or ImageReadException or DirectoryNotFoundException or FileNotFoundException or ArgumentException)
            {
                Console.Error.WriteLine("error: " + DescribeError(ex));
                return Task.FromResult(2);
            }
        });
        return command;
    }

    private static int Run(
        string modelPath, string? manifestPath, string? comparePath, string imageFolder, int maxImages, DetectorOptions options, BenchmarkSettings settings, bool json, bool check)
    {
        static void Progress(string line) => Console.Error.WriteLine("bench: " + line);

        Progress($"reading up to {maxImages} images from {imageFolder}");
        using var images = BenchmarkImages.FromFolder(imageFolder, maxImages, keepEncoded: settings.IncludeDecode);
        Progress($"opening {modelPath}");
        using var primary = Detector.Open(modelPath, options, manifestPath is null ? null : ModelManifest.Load(manifestPath));
        using var second = comparePath is null ? null : Detector.Open(comparePath, options);
        if (second is not null)
        {
            Progress($"opened {comparePath} to compare");
        }

        var report = DetectorBenchmark.Run(primary, second, images, settings, Progress);
        Console.Out.WriteLine(json ? report.ToJson() : report.ToText());
        return check && report.Targets.Any(target => target.Passed == false) ? 1 : 0;
    }

    /// <summary>An option error as one line that names the option's setting and the bad value.</summary>
    internal static string DescribeError(Exception error) => error switch
    {
        ArgumentOutOfRangeException range when range.ParamName is not null =>
            $"{range.Message.Split('\n')[0].Replace($" (Parameter '{range.ParamName}')", "", StringComparison.Ordinal)} Got {range.ActualValue}.",
        ArgumentException argument when argument.ParamName is not null =>
            argument.Message.Replace($" (Parameter '{argument.ParamName}')", "", StringComparison.Ordinal),
        _ => error.Message,
    };
}
