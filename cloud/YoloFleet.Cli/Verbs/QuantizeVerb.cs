using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using YoloFleet.Cloud.Data.Quantization;
using YoloFleet.Contracts;
using YoloFleet.Inference;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet quantize`: an FP32 ONNX model in, the INT8 QDQ model the fleet runs out, with a report (JSON and a
/// readable table) beside it. docs/quantization.md records the figures and the commands that produce them.
/// </summary>
internal static class QuantizeVerb
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "FP32 ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var calib = new Option<string?>("--calib") { Description = "Calibration image folder (default: ../shared/datasets/coco128/images)." };
        var calibImages = new Option<int>("--calib-images")
        {
            Description = "Calibration images: the first N by name (the rest of a labelled folder are held out for the accuracy guard and the report), or the newest N hard frames.",
            DefaultValueFactory = _ => QuantizerOptions.DefaultCalibrationImages,
        };
        var calibHardFrames = new Option<bool>("--calib-hard-frames") { Description = "Calibrate on the fleet's stored hard frames (PostgreSQL, --connection) instead of an image folder." };
        var calibDevice = new Option<string[]>("--calib-device") { Description = "With --calib-hard-frames: only this device's frames (repeatable).", AllowMultipleArgumentsPerToken = true };
        var calibSince = new Option<string?>("--calib-since") { Description = "With --calib-hard-frames: only frames captured at or after this ISO 8601 time (UTC unless it has an offset)." };
        var calibModelVersion = new Option<string?>("--calib-model-version") { Description = "With --calib-hard-frames: only frames the edge took with this model version." };
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "With --calib-hard-frames: Npgsql connection string of the fleet database (default: YOLOFLEET_DATABASE, else the deploy/services.sh instance).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_DATABASE") ?? DatabaseVerb.DefaultConnection,
        };
        var calibSkip = new Option<int>("--calib-skip") { Description = "Skip the first N images of the folder (to keep evaluation images out of calibration).", DefaultValueFactory = _ => 0 };
        var method = new Option<string>("--method") { Description = "Range method: entropy, percentile or minmax.", DefaultValueFactory = _ => "percentile" };
        var percentile = new Option<double>("--percentile") { Description = "Percentile of |x| kept for --method percentile.", DefaultValueFactory = _ => 99.99 };
        var perChannel = new Option<bool>("--per-channel") { Description = "Per-output-channel weight scales (default true; --per-channel false for one scale per tensor).", DefaultValueFactory = _ => true };
        var activations = new Option<string>("--activations") { Description = "Activation type: uint8 (asymmetric, default: fastest here) or int8 (symmetric).", DefaultValueFactory = _ => "uint8" };
        var exclude = new Option<string[]>("--exclude") { Description = "Node names to keep in FP32 (repeatable).", AllowMultipleArgumentsPerToken = true };
        var excludeOp = new Option<string[]>("--exclude-op") { Description = "Operator types to keep in FP32 (repeatable), e.g. Concat.", AllowMultipleArgumentsPerToken = true };
        var quantizeTail = new Option<bool>("--quantize-tail") { Description = "Also quantize the decode tail (last layers and head arithmetic; usually costs accuracy)." };
        var autoExclude = new Option<bool>("--auto-exclude")
        {
            Description = "Rank nodes by sensitivity and keep the worst in FP32 until --target-cosine holds (default: on; --auto-exclude false quantizes every layer, which costs YOLOX-Nano 0.095 mAP).",
            DefaultValueFactory = _ => true,
        };
        var excludedWeightsInt8 = new Option<bool>("--auto-exclude-int8-weights") { Description = "Auto-excluded layers keep int8 weights and compute in float (the default; kept for older command lines)." };
        var excludedWeightsFp32 = new Option<bool>("--auto-exclude-fp32-weights") { Description = "Auto-excluded layers stay wholly FP32, weights too: a larger file, sometimes a little more accuracy." };
        var fp32TailWeights = new Option<bool>("--fp32-tail-weights") { Description = "Keep the decode tail's weights in FP32 (default: int8 weights, float computation)." };
        var biasCorrection = new Option<bool>("--bias-correction") { Description = "Take the mean output shift from weight rounding, (W_q - W) . E[x], off each bias." };
        var equalize = new Option<bool>("--equalize") { Description = "Cross-layer equalization before calibration: balance the weight ranges of Conv pairs joined by nothing, Relu, LeakyRelu, Identity or MaxPool." };
        var maxAutoExcluded = new Option<int>("--max-auto-exclude") { Description = "The most layers --auto-exclude keeps in FP32.", DefaultValueFactory = _ => 24 };
        var plateau = new Option<int>("--plateau")
        {
            Description = "Stop auto-exclusion when this many more FP32 layers raised the output cosine by under 0.002, keeping the best of them (0: off).",
            DefaultValueFactory = _ => 4,
        };
        var targetCosine = new Option<double>("--target-cosine") { Description = "Output cosine to FP32 that --auto-exclude aims for.", DefaultValueFactory = _ => 0.995 };
        var output = new Option<string>("--out", "-o") { Description = "The INT8 model to write.", Required = true };
        var eval = new Option<string?>("--eval")
        {
            Description = "Labelled image folder for mAP before and after (COCO JSON in ../annotations, else YOLO labels); calibration images in it are left out. " +
                "Default: the calibration folder's other images when it has labels. 'none' skips the evaluation.",
        };
        var evalLimit = new Option<int?>("--eval-limit") { Description = "Evaluate only the first N images." };
        var guard = new Option<string>("--accuracy-guard")
        {
            Description = "auto (default): when the calibration folder has labels, keep more layers in FP32 until mAP on its other images is within 0.005 of FP32; off: trust the cosine search alone.",
            DefaultValueFactory = _ => "auto",
        };
        var benchFrames = new Option<int>("--bench-frames") { Description = "Frames per model for the latency before/after (0: skip).", DefaultValueFactory = _ => 100 };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads for bench and eval.", DefaultValueFactory = _ => Environment.ProcessorCount };

        var command = new Command("quantize", "Quantize an FP32 ONNX model to INT8 (QDQ), with a report of what changed.")
        {
            model, calib, calibImages, calibSkip, calibHardFrames, calibDevice, calibSince, calibModelVersion, connection, method, percentile, perChannel, activations, exclude, excludeOp, quantizeTail, autoExclude, excludedWeightsInt8, excludedWeightsFp32, fp32TailWeights, biasCorrection, equalize,
            maxAutoExcluded, plateau, targetCosine,
            output, eval, evalLimit, guard, benchFrames, threads,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            try
            {
                if (parse.GetValue(excludedWeightsInt8) && parse.GetValue(excludedWeightsFp32))
                {
                    throw new ArgumentException("--auto-exclude-int8-weights and --auto-exclude-fp32-weights contradict each other; give one.");
                }

                var options = new QuantizerOptions
                {
                    Method = ParseMethod(parse.GetValue(method)!),
                    Percentile = parse.GetValue(percentile),
                    PerChannel = parse.GetValue(perChannel),
                    ActivationType = ParseActivations(parse.GetValue(activations)!),
                    ExcludeNodes = parse.GetValue(exclude) ?? [],
                    ExcludeOpTypes = parse.GetValue(excludeOp) ?? [],
                    QuantizeDecodeTail = parse.GetValue(quantizeTail),
                    AutoExclude = parse.GetValue(autoExclude),
                    TargetCosine = parse.GetValue(targetCosine),
                    AutoExcludedWeightsInt8 = !parse.GetValue(excludedWeightsFp32),
                    TailWeightsInt8 = !parse.GetValue(fp32TailWeights),
                    BiasCorrection = parse.GetValue(biasCorrection),
                    Equalize = parse.GetValue(equalize),
                    MaxAutoExcluded = parse.GetValue(maxAutoExcluded),
                    PlateauWindow = parse.GetValue(plateau),
                };
                options.Validate();
                var hardFrames = HardFrameSource(
                    parse.GetValue(calibHardFrames), parse.GetValue(calib), parse.GetValue(calibSkip), parse.GetValue(calibImages), parse.GetValue(calibDevice) ?? [],
                    parse.GetValue(calibSince), parse.GetValue(calibModelVersion), parse.GetValue(connection)!);
                var guardMode = parse.GetValue(guard)!.ToLowerInvariant();
                if (guardMode is not ("auto" or "off"))
                {
                    throw new ArgumentException($"--accuracy-guard must be auto or off; got '{guardMode}'.");
                }

                var calibrationFolder = hardFrames is null ? parse.GetValue(calib) ?? SharedData.Coco128Images : null;
                var settings = new Settings(
                    parse.GetValue(model) ?? SharedData.YoloxNano416, calibrationFolder, hardFrames, parse.GetValue(calibImages),
                    parse.GetValue(calibSkip), parse.GetValue(output)!, EvaluationFolder(parse.GetValue(eval), calibrationFolder), parse.GetValue(evalLimit),
                    parse.GetValue(benchFrames), parse.GetValue(threads), guardMode == "auto");
                return Task.FromResult(Run(settings, options));
            }
            catch (Exception ex) when (ex is QuantizationException or OnnxModelReadException or ModelLoadException or ImageReadException
                or DirectoryNotFoundException or FileNotFoundException or InvalidDataException or ArgumentException
                or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                Console.Error.WriteLine("error: " + BenchVerb.DescribeError(ex));
                return Task.FromResult(2);
            }
        });
        return command;
    }

    private sealed record Settings(
        string ModelPath, string? CalibrationFolder, HardFrames? HardFrames, int CalibrationImages, int CalibrationSkip, string OutputPath, string? EvalFolder, int? EvalLimit,
        int BenchFrames, int Threads, bool AccuracyGuard);

    private static int Run(Settings settings, QuantizerOptions options)
    {
        static void Progress(string line) => Console.Error.WriteLine("quantize: " + line);

        if (settings.CalibrationImages < 1 || settings.CalibrationSkip < 0 || settings.BenchFrames < 0 || settings.EvalLimit is < 1)
        {
            throw new ArgumentException("--calib-images and --eval-limit must be at least 1; --calib-skip and --bench-frames at least 0.");
        }

        var modelPath = Path.GetFullPath(settings.ModelPath);
        var outputPath = Path.GetFullPath(settings.OutputPath);
        if (string.Equals(modelPath, outputPath, StringComparison.Ordinal))
        {
            throw new ArgumentException("--out must not be the input model.");
        }

        var fp32 = OnnxModelFile.Load(modelPath);

        // Refuse an already-quantized or unsupported model before spending time on the calibration images.
        ModelPreparation.CheckQuantizable(fp32);
        QuantizationResult result;
        var calibration = OpenCalibration(modelPath, settings);
        IReadOnlyList<string> calibrationFiles = calibration is ImageFolderCalibrationSet folderSet ? folderSet.Files : [];
        using var check = settings.AccuracyGuard && options.AutoExclude && settings.CalibrationFolder is { } folder
            ? HeldOutMeanApCheck.ForFolder(modelPath, folder, calibrationFiles, settings.Threads)
            : null;
        options.AccuracyCheck = check;
        using (calibration as IDisposable)
        {
            Progress($"calibrating on {calibration.Description}");
            if (check is not null)
            {
                Progress("accuracy guard: " + check.Description);
            }

            result = ModelQuantizer.Quantize(fp32, calibration, options, Progress);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
        OnnxModelFile.Save(result.Model, outputPath);
        var report = result.Report;
        report.Fp32Model = modelPath;
        report.Int8Model = outputPath;
        report.Int8Sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(outputPath)));
        report.FileBytes = new BeforeAfter(new FileInfo(modelPath).Length, new FileInfo(outputPath).Length);
        Progress($"wrote {outputPath} ({report.FileBytes.After:F0} bytes, FP32 {report.FileBytes.Before:F0})");

        // The latency baseline is the FP32 graph with only the initializer-as-input repair applied, so the ratio shows
        // quantization alone rather than that repair (which PicoDet's export needs to be constant-folded at all).
        var baselinePath = outputPath + ".fp32-baseline.onnx";
        try
        {
            var baseline = fp32.Clone();
            OnnxModelFile.RemoveInitializersFromInputs(baseline);
            OnnxModelFile.Save(baseline, baselinePath);
            if (settings.BenchFrames > 0)
            {
                // Hard frames live in the database; the latency bench reads images from a folder, so it takes coco128's.
                var benchFolder = settings.CalibrationFolder ?? SharedData.Coco128Images;
                report.LatencyMs = QuantizationEvaluation.Latency(baselinePath, outputPath, benchFolder, settings.BenchFrames, settings.Threads, Progress);
            }

            if (settings.EvalFolder is { } evalFolder)
            {
                // Never on the calibration images: the figures would flatter the model.
                var (meanAp, meanAp50, description) = QuantizationEvaluation.MeanAveragePrecision(
                    baselinePath, outputPath, evalFolder, settings.EvalLimit, settings.Threads, Progress, excludeImages: calibrationFiles);
                report.MeanAp = meanAp;
                report.MeanAp50 = meanAp50;
                report.Evaluation = description;
            }
        }
        finally
        {
            File.Delete(baselinePath);
        }

        var jsonPath = Path.ChangeExtension(outputPath, ".report.json");
        var tablePath = Path.ChangeExtension(outputPath, ".report.txt");
        File.WriteAllText(jsonPath, report.ToJson());
        var table = report.ToTable();
        File.WriteAllText(tablePath, table);
        Console.Out.Write(table);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"report: {jsonPath}, {tablePath}"));
        if (report.MeanApWithinTolerance == false)
        {
            Console.Error.WriteLine("quantize: WARNING: " + report.AccuracyVerdict + ". Try --calib-images 64, more --max-auto-exclude or --plateau 0 (docs/quantization.md).");
        }

        return 0;
    }

    /// <summary>
    /// Where to measure mAP: the folder given, nothing for "none", and by default the calibration folder itself when it
    /// has labels (its calibration images are left out at evaluation time).
    /// </summary>
    private static string? EvaluationFolder(string? eval, string? calibrationFolder) => eval switch
    {
        "none" => null,
        { } folder => folder,
        null when calibrationFolder is not null && QuantizationEvaluation.HasLabels(calibrationFolder) => calibrationFolder,
        _ => null,
    };

    private sealed record HardFrames(string ConnectionString, HardFrameSelection Selection);

    private static ICalibrationSet OpenCalibration(string modelPath, Settings settings) => settings.HardFrames is { } hardFrames
        ? new HardFrameCalibrationSet(modelPath, hardFrames.ConnectionString, hardFrames.Selection)
        : new ImageFolderCalibrationSet(modelPath, settings.CalibrationFolder!, settings.CalibrationImages, settings.CalibrationSkip);

    /// <summary>The hard-frame selection when --calib-hard-frames is given (null otherwise), refusing options that would be ignored.</summary>
    private static HardFrames? HardFrameSource(
        bool enabled, string? folder, int skip, int count, string[] devices, string? since, string? modelVersion, string connectionString)
    {
        if (!enabled)
        {
            return devices.Length > 0 || since is not null || modelVersion is not null
                ? throw new ArgumentException("--calib-device, --calib-since and --calib-model-version select hard frames; add --calib-hard-frames.")
                : null;
        }

        if (folder is not null)
        {
            throw new ArgumentException("--calib and --calib-hard-frames are two calibration sources; give one.");
        }

        if (skip != 0)
        {
            throw new ArgumentException("--calib-skip applies to an image folder (--calib), not to --calib-hard-frames; use --calib-since or --calib-device.");
        }

        if (count < 1)
        {
            throw new ArgumentException("--calib-images must be at least 1.");
        }

        if (devices.FirstOrDefault(device => !DeviceIds.IsValid(device)) is { } badDevice)
        {
            throw new ArgumentException($"--calib-device '{badDevice}' is not a valid device id (letters, digits, '-', '_'; at most 64).");
        }

        DateTimeOffset? sinceTime = null;
        if (since is not null)
        {
            sinceTime = DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw new ArgumentException($"--calib-since '{since}' is not an ISO 8601 time, e.g. 2026-11-20T00:00:00Z.");
        }

        var selection = new HardFrameSelection
        {
            MaxFrames = count,
            DeviceIds = [.. devices.Distinct(StringComparer.Ordinal)],
            ModelVersion = modelVersion,
            Since = sinceTime,
        };
        return new HardFrames(connectionString, selection);
    }

    private static CalibrationMethod ParseMethod(string value) => value.ToLowerInvariant() switch
    {
        "entropy" => CalibrationMethod.Entropy,
        "percentile" => CalibrationMethod.Percentile,
        "minmax" => CalibrationMethod.MinMax,
        _ => throw new ArgumentException($"--method must be entropy, percentile or minmax; got '{value}'."),
    };

    private static QuantizedType ParseActivations(string value) => value.ToLowerInvariant() switch
    {
        "uint8" => QuantizedType.UInt8,
        "int8" => QuantizedType.Int8,
        _ => throw new ArgumentException($"--activations must be uint8 or int8; got '{value}'."),
    };
}
