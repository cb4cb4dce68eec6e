using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>A target the pipeline should meet; <see cref="Passed"/> is null where it does not apply to this run.</summary>
public sealed record BenchmarkTarget(string Name, double Value, string Comparison, double Limit, bool? Passed, string Meaning);

/// <summary>What a <see cref="DetectorBenchmark"/> run measured, with the targets and the JSON form the CLI prints.</summary>
/// <param name="PeakRssMb">Peak resident set size of the whole process (VmHWM) in MiB, including the decoded images.</param>
/// <param name="ImageBytes">Bytes of decoded frames held during the run (part of <paramref name="PeakRssMb"/>).</param>
public sealed record BenchmarkReport(
    ModelBenchmark Primary,
    ModelBenchmark? Compare,
    int Frames,
    int Warmup,
    int BlockSize,
    int Threads,
    int Images,
    bool IncludeDecode,
    double? PeakRssMb,
    long ImageBytes,
    double? LoadAverageBefore,
    double? LoadAverageAfter)
{
    public const double MaxPrePostShare = 0.10;
    public const double MinFpsRatio = 0.90;
    public const double MaxAllocBytesPerFrame = 1024;
    public const double MaxPeakRssMb = 150;

    /// <summary>Compared model's median frame latency over the primary's: above 1 means the compared model is slower.</summary>
    public double? LatencyRatio => Compare is null || Primary.Latency.P50 <= 0 ? null : Compare.Latency.P50 / Primary.Latency.P50;

    /// <summary>The same ratio of mean frame latencies (equivalently primary fps over compared fps).</summary>
    public double? MeanLatencyRatio => Compare is null || Primary.Latency.Mean <= 0 ? null : Compare.Latency.Mean / Primary.Latency.Mean;

    /// <summary>The edge pipeline's targets, judged on the primary model.</summary>
    public IReadOnlyList<BenchmarkTarget> Targets =>
    [
        new("prePostShare", Primary.PrePostShare, "<=", MaxPrePostShare, Primary.PrePostShare <= MaxPrePostShare,
            "pre- + post-processing share of the detector's frame time"),
        new("fpsRatio", Primary.FpsRatio, ">=", MinFpsRatio, Primary.FpsRatio >= MinFpsRatio,
            "pipeline fps over bare session.Run fps"),
        new("allocBytesPerFrame", Primary.AllocBytesPerFrame, "<=", MaxAllocBytesPerFrame,
            IncludeDecode ? null : Primary.AllocBytesPerFrame <= MaxAllocBytesPerFrame,
            IncludeDecode ? "managed bytes per frame (not judged: decoding allocates a Mat per frame)" : "managed bytes allocated per steady-state frame"),
        new("peakRssMb", PeakRssMb ?? double.NaN, "<=", MaxPeakRssMb,
            Compare is not null || PeakRssMb is null ? null : PeakRssMb <= MaxPeakRssMb,
            Compare is not null ? "peak RSS in MiB (not judged: two models loaded)" : "peak RSS in MiB with one model loaded"),
    ];

    /// <summary>Writes the report as one JSON object.</summary>
    public void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        WriteModel(writer, Primary);
        writer.WriteNumber("frames", Frames);
        writer.WriteNumber("warmup", Warmup);
        writer.WriteNumber("blockSize", BlockSize);
        writer.WriteNumber("threads", Threads);
        writer.WriteNumber("images", Images);
        writer.WriteBoolean("includeDecode", IncludeDecode);
        WriteNumberOrNull(writer, "peakRssMb", PeakRssMb, 1);
        writer.WriteNumber("imageBytes", ImageBytes);
        WriteNumberOrNull(writer, "loadAverageBefore", LoadAverageBefore, 2);
        WriteNumberOrNull(writer, "loadAverageAfter", LoadAverageAfter, 2);
        writer.WriteStartObject("targets");
        foreach (var target in Targets)
        {
            writer.WriteStartObject(target.Name);
            WriteNumberOrNull(writer, "value", double.IsNaN(target.Value) ? null : target.Value, 4);
            writer.WriteString("comparison", target.Comparison);
            writer.WriteNumber("limit", target.Limit);
            if (target.Passed is { } passed)
            {
                writer.WriteBoolean("pass", passed);
            }
            else
            {
                writer.WriteNull("pass");
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        if (Compare is not null)
        {
            writer.WriteStartObject("compare");
            WriteModel(writer, Compare);
            writer.WriteEndObject();
            WriteNumberOrNull(writer, "latencyRatio", LatencyRatio, 4);
            WriteNumberOrNull(writer, "meanLatencyRatio", MeanLatencyRatio, 4);
            writer.WriteString("latencyRatioDefinition", "compare.latencyMs.p50 / latencyMs.p50 (> 1: the compared model is slower)");
        }

        writer.WriteEndObject();
    }

    public string ToJson(bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            WriteJson(writer);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A readable summary with a PASS/FAIL line per target.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        var culture = CultureInfo.InvariantCulture;
        text.AppendLine(culture, $"{Frames} frames per model after {Warmup} warm-up, blocks of {BlockSize}, {Images} images" +
            $"{(IncludeDecode ? " decoded per frame" : " decoded up front")}, {(Threads == 0 ? "default" : Threads.ToString(culture))} intra-op threads" +
            $"; load average {Format(LoadAverageBefore)} -> {Format(LoadAverageAfter)}");
        AppendModel(text, Primary);
        if (Compare is not null)
        {
            AppendModel(text, Compare);
            text.AppendLine(culture, $"latencyRatio (compare p50 / first p50): {LatencyRatio:F3}   mean ratio: {MeanLatencyRatio:F3}");
        }

        text.AppendLine(culture, $"peak RSS {Format(PeakRssMb)} MiB (decoded images {ImageBytes / (1024.0 * 1024.0):F1} MiB of it)");
        text.AppendLine();
        text.AppendLine(culture, $"Targets ({Primary.Model.Version}):");
        foreach (var target in Targets)
        {
            var verdict = target.Passed switch { true => "PASS", false => "FAIL", null => "n/a " };
            text.AppendLine(culture, $"  {verdict}  {target.Name,-20} {target.Value,10:0.####} {target.Comparison} {target.Limit,-6:0.##}  {target.Meaning}");
        }

        return text.ToString();
    }

    private static void AppendModel(StringBuilder text, ModelBenchmark result)
    {
        var culture = CultureInfo.InvariantCulture;
        text.AppendLine();
        text.AppendLine(culture, $"{result.Model.Version} ({result.Model.Layout}, {result.Model.InputWidth}x{result.Model.InputHeight}, {result.ModelSizeBytes:N0} bytes)");
        text.AppendLine(culture, $"  pipeline  {result.Fps,7:F1} fps  p50 {result.Latency.P50,7:F2}  p95 {result.Latency.P95,7:F2}  p99 {result.Latency.P99,7:F2}  mean {result.Latency.Mean,7:F2} ms");
        text.AppendLine(culture, $"  runOnly   {result.RunOnlyFps,7:F1} fps  p50 {result.RunOnlyLatency.P50,7:F2}  p95 {result.RunOnlyLatency.P95,7:F2}  p99 {result.RunOnlyLatency.P99,7:F2}  mean {result.RunOnlyLatency.Mean,7:F2} ms");
        if (result.PlainRunLatency is { } plain)
        {
            text.AppendLine(culture, $"  plainRun  {1000.0 / plain.Mean,7:F1} fps  p50 {plain.P50,7:F2}  p95 {plain.P95,7:F2}  p99 {plain.P99,7:F2}  mean {plain.Mean,7:F2} ms" +
                $"  ({result.PlainRunAllocatedBytes / (double)result.Frames:F0} B/run; runOnly through the IO binding: {result.RunOnlyAllocBytesPerFrame:F0} B/run)");
        }

        var split = result.Split;
        text.AppendLine(culture, $"  split     {(split.DecodeMs > 0 ? $"decode {split.DecodeMs:F2} + " : "")}preprocess {split.PreprocessMs:F2} + inference {split.InferenceMs:F2} + postprocess {split.PostprocessMs:F2} ms" +
            $"  (pre+post {result.PrePostShare:P1})");
        text.AppendLine(culture, $"  fps ratio {result.FpsRatio:F3}   managed alloc {result.AllocBytesPerFrame:F1} B/frame   {result.DetectionsPerFrame:F1} detections/frame");
    }

    private static void WriteModel(Utf8JsonWriter writer, ModelBenchmark result)
    {
        writer.WriteString("model", Path.GetFileName(result.Model.Path));
        writer.WriteString("modelPath", result.Model.Path);
        writer.WriteString("modelVersion", result.Model.Version);
        writer.WriteString("layout", result.Model.Layout);
        writer.WriteString("input", $"{result.Model.InputWidth}x{result.Model.InputHeight}");
        writer.WriteNumber("modelSizeBytes", result.ModelSizeBytes);
        writer.WriteNumber("fps", Math.Round(result.Fps, 2));
        writer.WriteNumber("runOnlyFps", Math.Round(result.RunOnlyFps, 2));
        writer.WriteNumber("fpsRatio", Math.Round(result.FpsRatio, 4));
        WriteLatency(writer, "latencyMs", result.Latency);
        WriteLatency(writer, "runOnlyLatencyMs", result.RunOnlyLatency);
        writer.WriteStartObject("splitMs");
        if (result.Split.DecodeMs > 0)
        {
            writer.WriteNumber("decode", Math.Round(result.Split.DecodeMs, 3));
        }

        writer.WriteNumber("preprocess", Math.Round(result.Split.PreprocessMs, 3));
        writer.WriteNumber("inference", Math.Round(result.Split.InferenceMs, 3));
        writer.WriteNumber("postprocess", Math.Round(result.Split.PostprocessMs, 3));
        writer.WriteEndObject();
        writer.WriteNumber("prePostShare", Math.Round(result.PrePostShare, 4));
        writer.WriteNumber("allocBytesPerFrame", Math.Round(result.AllocBytesPerFrame, 1));
        writer.WriteNumber("runOnlyAllocBytesPerFrame", Math.Round(result.RunOnlyAllocBytesPerFrame, 1));
        writer.WriteNumber("detectionsPerFrame", Math.Round(result.DetectionsPerFrame, 2));
        if (result.PlainRunLatency is { } plain)
        {
            writer.WriteStartObject("plainRun");
            WriteLatency(writer, "latencyMs", plain);
            writer.WriteNumber("allocBytesPerRun", Math.Round(result.PlainRunAllocatedBytes / (double)Math.Max(1, result.Frames), 1));
            writer.WriteNumber("meanOverRunOnlyMean", Math.Round(result.RunOnlyLatency.Mean > 0 ? plain.Mean / result.RunOnlyLatency.Mean : 0, 4));
            writer.WriteEndObject();
        }
    }

    private static void WriteLatency(Utf8JsonWriter writer, string name, LatencySummary latency)
    {
        writer.WriteStartObject(name);
        writer.WriteNumber("p50", Math.Round(latency.P50, 3));
        writer.WriteNumber("p95", Math.Round(latency.P95, 3));
        writer.WriteNumber("p99", Math.Round(latency.P99, 3));
        writer.WriteNumber("mean", Math.Round(latency.Mean, 3));
        writer.WriteNumber("min", Math.Round(latency.Min, 3));
        writer.WriteNumber("max", Math.Round(latency.Max, 3));
        writer.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter writer, string name, double? value, int decimals)
    {
        if (value is { } number && double.IsFinite(number))
        {
            writer.WriteNumber(name, Math.Round(number, decimals));
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static string Format(double? value) =>
        value is { } number ? number.ToString("0.##", CultureInfo.InvariantCulture) : "?";
}
