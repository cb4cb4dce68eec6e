using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>
/// Runs one quantize job: the FP32 parent from the artifact store, the planned frames (checked against their hashes),
/// the project's quantizer with its defaults, then the INT8 model against FP32 on the held-out frames (box agreement,
/// latency, size). The INT8 file is opened with its own manifest by the real detector before it is stored; its manifest
/// carries the lineage (parent, frames, settings) and is signed. Progress goes to the job's row.
/// </summary>
public sealed partial class QuantizeJobRunner(
    ModelStore models,
    ModelJobStore jobs,
    IArtifactStore artifacts,
    CalibrationFrames frames,
    ModelRegistry registry,
    ModelRegistryOptions options,
    TimeProvider time,
    ILogger<QuantizeJobRunner> logger)
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(1);

    /// <summary>Runs the job to success or failure (recorded on its row); throws only when <paramref name="cancellationToken"/> stops it.</summary>
    public async Task RunAsync(ModelJobRow job, string claimant, CancellationToken cancellationToken)
    {
        var progress = new JobProgress(jobs, job.Id, claimant, time);
        var started = Stopwatch.GetTimestamp();
        var work = Directory.CreateTempSubdirectory("yolofleet-quantize-");
        try
        {
            var variant = await BuildAsync(job, progress, work.FullName, cancellationToken);
            await jobs.SucceedAsync(job.Id, claimant, variant.Id, $"INT8 stored as {variant.Name} version {variant.Version} (SHA-256 {variant.Sha256[..12]})", cancellationToken);
            LogSucceeded(job.Id, variant.Name, variant.Version, variant.Sha256, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            // Any failure ends in the job's row, with the reason, rather than in a log nobody reads.
            var reason = ex is ModelLoadException or QuantizationException or InvalidDataException or ModelRegistryException or ArtifactNotFoundException
                ? ex.Message
                : $"{ex.GetType().Name}: {ex.Message}";
            LogFailed(ex, job.Id, reason);
            await jobs.FailAsync(job.Id, claimant, reason, CancellationToken.None);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private async Task<ModelVariantRow> BuildAsync(ModelJobRow job, JobProgress progress, string work, CancellationToken cancellationToken)
    {
        var inputs = QuantizeInputs.FromJson(job.InputsJson);
        await progress.ReportAsync(2, "loading the FP32 model and the frames", force: true);
        var fp32 = await models.FindAsync(inputs.Model, inputs.Version, ModelStore.Fp32, cancellationToken)
            ?? throw new InvalidDataException($"Model {inputs.Model} version {inputs.Version} is no longer registered.");
        if (fp32.Sha256 != inputs.ParentSha256)
        {
            throw new InvalidDataException($"Model {inputs.Model} version {inputs.Version} is now {fp32.Sha256}, not the planned parent {inputs.ParentSha256}.");
        }

        var fp32Path = Path.Combine(work, "fp32.onnx");
        await using (var source = await artifacts.OpenReadAsync(fp32.Sha256, cancellationToken))
        await using (var target = File.Create(fp32Path))
        {
            await source.CopyToAsync(target, cancellationToken);
        }

        var fp32Manifest = ModelManifest.Parse(Encoding.UTF8.GetBytes(fp32.ManifestJson), $"{fp32.Name} {fp32.Version} fp32") with { Signature = null };
        var calibration = await frames.LoadAsync(inputs.Calibration, cancellationToken);
        var heldOut = await frames.LoadAsync(inputs.HeldOut, cancellationToken);

        // The quantizer and the evaluation are CPU-bound and synchronous: off the thread pool's async paths.
        var built = await Task.Run(() => Quantize(inputs, fp32Path, fp32Manifest, calibration, heldOut, work, progress), cancellationToken);

        await progress.ReportAsync(95, "storing and signing the INT8 model", force: true);
        await using (var file = File.OpenRead(built.Path))
        {
            await artifacts.PutAsync(file, cancellationToken);
        }

        return await models.InsertInt8Async(
            fp32,
            built.Sha256,
            built.SizeBytes,
            job.Id,
            built.ReportJson,
            version =>
            {
                var now = time.GetUtcNow();
                var versionText = version.ToString(CultureInfo.InvariantCulture);
                var int8 = registry.Sign(built.Manifest with
                {
                    Version = versionText,
                    Model = built.Manifest.Model with { File = ModelRegistry.FileNameOf(fp32.Name, version, ModelStore.Int8) },
                    CreatedAt = now,
                });
                var copy = registry.Sign(fp32Manifest with
                {
                    Version = versionText,
                    Model = fp32Manifest.Model with { File = ModelRegistry.FileNameOf(fp32.Name, version, ModelStore.Fp32) },
                    CreatedAt = now,
                });
                return (int8, copy);
            },
            cancellationToken);
    }

    private BuiltInt8 Quantize(
        QuantizeInputs inputs, string fp32Path, ModelManifest fp32Manifest, IReadOnlyList<EncodedFrame> calibration, IReadOnlyList<EncodedFrame> heldOut,
        string work, JobProgress progress)
    {
        var calibrationSha = inputs.Calibration.FramesSha256();
        var fp32Model = OnnxModelFile.Load(fp32Path);
        var calibrationOptions = new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error };
        QuantizationResult quantized;
        using (var calibrationSet = new EncodedFrameCalibrationSet(
            Detector.Open(fp32Path, calibrationOptions, fp32Manifest),
            calibration,
            $"{calibration.Count} {inputs.Calibration.Source} frames (frames SHA-256 {calibrationSha[..12]})"))
        {
            progress.Report(5, $"calibrating on {calibrationSet.Description}");
            using var check = AccuracyCheck(inputs, fp32Path, fp32Manifest, heldOut);
            progress.Report(5, "accuracy guard: " + check.Description);
            quantized = ModelQuantizer.Quantize(fp32Model, calibrationSet, new QuantizerOptions { AccuracyCheck = check }, line => progress.Report(PercentOf(line), line));
        }

        var int8Path = Path.Combine(work, "int8.onnx");
        OnnxModelFile.Save(quantized.Model, int8Path);
        string sha256;
        using (var stream = File.OpenRead(int8Path))
        {
            sha256 = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        var size = new FileInfo(int8Path).Length;
        var manifest = fp32Manifest with
        {
            Precision = ModelStore.Int8,
            Model = new ManifestModelFile { File = "int8.onnx", Sha256 = sha256, SizeBytes = size },
            CreatedAt = null,
            Lineage = new ManifestLineage
            {
                ParentSha256 = inputs.ParentSha256,
                ParentVersion = string.Create(CultureInfo.InvariantCulture, $"{inputs.Model}@{inputs.Version}"),
                Tool = inputs.Tool,
                Settings = inputs.Settings,
                Calibration = new ManifestCalibration
                {
                    Source = inputs.Calibration.Source,
                    Frames = inputs.Calibration.Frames.Count,
                    FramesSha256 = calibrationSha,
                    FrameIds = [.. inputs.Calibration.Frames.Select(frame => frame.Id)],
                },
            },
        };

        progress.Report(80, $"comparing INT8 with FP32 on {heldOut.Count} held-out frames");
        var evaluationOptions = new DetectorOptions { IntraOpThreads = options.JobThreads, LogLevel = OnnxRuntimeLogLevel.Error };
        Int8Agreement agreement;
        Int8Latency latency;

        // Opening the INT8 model with its own manifest is the check an agent makes: layout, class count, input size.
        using (var fp32Detector = Detector.Open(fp32Path, evaluationOptions, fp32Manifest))
        using (var int8Detector = Detector.Open(int8Path, evaluationOptions, manifest))
        {
            (agreement, latency) = Int8Comparison.Run(fp32Detector, int8Detector, heldOut, options.LatencyRounds, options.JobThreads);
        }

        var fp32Size = new FileInfo(fp32Path).Length;
        var quantizerReport = quantized.Report;
        quantizerReport.Fp32Model = inputs.ParentSha256;
        quantizerReport.Int8Model = sha256;
        quantizerReport.Int8Sha256 = sha256;
        quantizerReport.FileBytes = new BeforeAfter(fp32Size, size);
        quantizerReport.LatencyMs = new BeforeAfter(latency.Fp32P50Ms, latency.Int8P50Ms);
        var report = new JsonObject
        {
            ["agreement"] = new JsonObject
            {
                ["heldOutFrames"] = agreement.Frames,
                ["fp32Boxes"] = agreement.Fp32Boxes,
                ["int8Boxes"] = agreement.Int8Boxes,
                ["matched"] = agreement.Matched,
                ["precision"] = agreement.Precision,
                ["recall"] = agreement.Recall,
                ["meanIou"] = agreement.MeanIou,
                ["minIou"] = agreement.MinIou,
                ["rule"] = "INT8 boxes against FP32 boxes: same class, IoU >= minIou, greedy by FP32 score (BoxMatcher)",
            },
            ["latency"] = new JsonObject
            {
                ["fp32P50Ms"] = latency.Fp32P50Ms,
                ["int8P50Ms"] = latency.Int8P50Ms,
                ["ratio"] = latency.Ratio,
                ["frames"] = latency.Frames,
                ["rounds"] = latency.Rounds,
                ["threads"] = latency.Threads,
                ["measuredOn"] = "the silo that ran the job, not a device; devices benchmark both variants themselves",
            },
            ["size"] = new JsonObject { ["fp32Bytes"] = fp32Size, ["int8Bytes"] = size, ["ratio"] = (double)size / fp32Size },
            ["calibration"] = Describe(inputs.Calibration),
            ["heldOut"] = Describe(inputs.HeldOut),
            ["quantizer"] = JsonNode.Parse(quantizerReport.ToJson()),
        };
        progress.Report(92, string.Create(CultureInfo.InvariantCulture,
            $"INT8 agrees with FP32 at precision {agreement.Precision:F3}, recall {agreement.Recall:F3}; latency ratio {latency.Ratio:F2}; size {(double)size / fp32Size:F2}"));
        return new BuiltInt8(int8Path, sha256, size, manifest, report.ToJsonString());
    }

    /// <summary>
    /// The quantizer's accuracy guard for this job: mAP on the fallback folder's labelled images that did not calibrate,
    /// when the folder has labels; otherwise agreement with FP32's own detections on the held-out frames (hard frames
    /// have no labels). <see cref="QuantizeInputs.GuardSetting"/> names which, in the lineage and the job key.
    /// </summary>
    private IAccuracyCheck AccuracyCheck(QuantizeInputs inputs, string fp32Path, ModelManifest fp32Manifest, IReadOnlyList<EncodedFrame> heldOut)
    {
        if (inputs.Calibration is { Source: FrameSet.FolderSource, Folder: { } folder })
        {
            var calibrationFiles = inputs.Calibration.Frames.Select(frame => Path.Combine(folder, frame.Id)).ToList();
            if (HeldOutMeanApCheck.ForFolder(fp32Path, folder, calibrationFiles, options.JobThreads, fp32Manifest) is { } labelled)
            {
                return labelled;
            }
        }

        return new FloatAgreementCheck(fp32Path, [.. heldOut.Select(frame => frame.Bytes)], options.JobThreads, manifest: fp32Manifest);
    }

    private static JsonObject Describe(FrameSet set) => new()
    {
        ["source"] = set.Source,
        ["frames"] = set.Frames.Count,
        ["framesSha256"] = set.FramesSha256(),
        ["frameIds"] = new JsonArray([.. set.Frames.Select(frame => (JsonNode)frame.Id)]),
    };

    /// <summary>The quantizer's progress lines as a share of the job: calibration passes, then ranges, comparison, sensitivity.</summary>
    internal static int PercentOf(string line)
    {
        if (CalibrationPass().Match(line) is { Success: true } pass)
        {
            var (p, passes, i, n) = (Int(pass, 1), Int(pass, 2), Int(pass, 3), Int(pass, 4));
            return 10 + (int)(40.0 * ((p - 1) + ((double)i / Math.Max(1, n))) / Math.Max(1, passes));
        }

        if (Sensitivity().Match(line) is { Success: true } measured)
        {
            return 55 + (int)(15.0 * Int(measured, 1) / Math.Max(1, Int(measured, 2)));
        }

        return line switch
        {
            _ when line.StartsWith("prepare", StringComparison.Ordinal) => 6,
            _ when line.StartsWith("plan", StringComparison.Ordinal) => 8,
            _ when line.StartsWith("ranges", StringComparison.Ordinal) => 50,
            _ when line.StartsWith("compare: output", StringComparison.Ordinal) => 54,
            _ when line.StartsWith("auto-exclude", StringComparison.Ordinal) => 72,
            _ when line.StartsWith("accuracy", StringComparison.Ordinal) => 74,
            _ when line.StartsWith("compare: per-tensor", StringComparison.Ordinal) => 76,
            _ => -1,
        };

        static int Int(Match match, int group) => int.Parse(match.Groups[group].ValueSpan, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^calibration pass (\d+)/(\d+).*?: (\d+)/(\d+) inputs")]
    private static partial Regex CalibrationPass();

    [GeneratedRegex(@"^sensitivity: (\d+)/(\d+)")]
    private static partial Regex Sensitivity();

    [LoggerMessage(Level = LogLevel.Information, Message = "Quantize job {JobId} made {Name} version {Version} INT8 ({Sha256}) in {Seconds:F1} s")]
    private partial void LogSucceeded(long jobId, string name, int version, string sha256, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Quantize job {JobId} failed: {Reason}")]
    private partial void LogFailed(Exception ex, long jobId, string reason);

    private sealed record BuiltInt8(string Path, string Sha256, long SizeBytes, ModelManifest Manifest, string ReportJson);

    /// <summary>Progress to the job's row, at most once a second (it is also the job's heartbeat), never backwards.</summary>
    private sealed class JobProgress(ModelJobStore jobs, long jobId, string claimant, TimeProvider time)
    {
        private long _lastWrite;
        private int _percent;

        /// <summary>From the quantizer's synchronous callbacks (a worker thread).</summary>
        public void Report(int percent, string message) => ReportAsync(percent, message, force: false).GetAwaiter().GetResult();

        public async Task ReportAsync(int percent, string message, bool force)
        {
            _percent = Math.Max(_percent, percent);
            if (!force && time.GetElapsedTime(_lastWrite) < ProgressEvery)
            {
                return;
            }

            _lastWrite = time.GetTimestamp();
            await jobs.ReportAsync(jobId, claimant, _percent, message);
        }
    }
}
