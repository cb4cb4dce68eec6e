using System.Globalization;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>A variant's latency measured on one device.</summary>
public sealed record BenchmarkFigure(string Sha256, string Precision, float P50Ms, float P95Ms, int Runs, bool Throttled);

/// <summary>Which variant a device runs, and why, with the figures compared.</summary>
public sealed record VariantDecision(string ChosenSha256, string ChosenPrecision, string Reason, float? Fp32P50Ms, float? Int8P50Ms);

/// <summary>
/// The INT8-or-FP32 rule. INT8 is smaller, but on some CPUs slower than FP32 (docs/quantization.md: ONNX Runtime's integer
/// kernels for SiLU and depthwise convolutions), and it costs some accuracy; so a device gets INT8 only where it measured
/// INT8 faster there, by at least <c>Cloud:Models:Int8MinSpeedup</c> (5 % by default, above run-to-run noise). Figures
/// taken in different throttle states are not compared; without comparable figures FP32, which every device runs,
/// stays, unless the device reported INT8 alone (it refused FP32).
/// </summary>
public static class VariantChooser
{
    public const string Fp32 = "fp32";
    public const string Int8 = "int8";

    public static VariantDecision Choose(string fp32Sha256, string? int8Sha256, IReadOnlyCollection<BenchmarkFigure> figures, double minSpeedup)
    {
        if (int8Sha256 is null)
        {
            return new(fp32Sha256, Fp32, "only an FP32 variant exists for this version", null, null);
        }

        var fp32 = figures.FirstOrDefault(figure => figure.Sha256 == fp32Sha256);
        var int8 = figures.FirstOrDefault(figure => figure.Sha256 == int8Sha256);
        if (fp32 is null && int8 is not null)
        {
            // The device benchmarks every variant it can run: FP32 without a figure is one it refused, so choosing it
            // would only be refused again.
            return new(int8Sha256, Int8,
                string.Create(CultureInfo.InvariantCulture, $"only INT8 ran on this device (p50 {int8.P50Ms:F1} ms; it reported no figure for FP32, which it refused): INT8 chosen"),
                null, int8.P50Ms);
        }

        if (fp32 is null || int8 is null)
        {
            return new(fp32Sha256, Fp32,
                $"no latency figure for {(fp32 is null ? "FP32" : "")}{(fp32 is null && int8 is null ? " and " : "")}{(int8 is null ? "INT8" : "")} on this device; FP32 kept",
                fp32?.P50Ms, int8?.P50Ms);
        }

        if (fp32.Throttled != int8.Throttled)
        {
            return new(fp32Sha256, Fp32,
                $"FP32 was measured {(fp32.Throttled ? "while throttling" : "unthrottled")} and INT8 {(int8.Throttled ? "while throttling" : "unthrottled")}: not comparable; FP32 kept",
                fp32.P50Ms, int8.P50Ms);
        }

        var ratio = fp32.P50Ms > 0 ? int8.P50Ms / fp32.P50Ms : double.PositiveInfinity;
        var threshold = 1 - minSpeedup;
        var figuresText = string.Create(CultureInfo.InvariantCulture,
            $"INT8 p50 {int8.P50Ms:F1} ms vs FP32 p50 {fp32.P50Ms:F1} ms on this device (ratio {ratio:F2}, INT8 needs <= {threshold:F2}{(fp32.Throttled ? ", both throttled" : "")})");
        return ratio <= threshold
            ? new(int8Sha256, Int8, "INT8 measured faster: " + figuresText, fp32.P50Ms, int8.P50Ms)
            : new(fp32Sha256, Fp32, "INT8 not measured faster enough: " + figuresText, fp32.P50Ms, int8.P50Ms);
    }
}
