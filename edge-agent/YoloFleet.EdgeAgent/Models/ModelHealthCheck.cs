using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>The outcome of a health check: passed, or the reason code and why.</summary>
public sealed record HealthResult(bool Passed, string ReasonCode, string Detail, double MedianMs, double P95Ms)
{
    public static HealthResult Fail(string code, string detail, double medianMs = 0, double p95Ms = 0) => new(false, code, detail, medianMs, p95Ms);
}

/// <summary>A variant's latency on this device.</summary>
public sealed record BenchmarkResult(double P50Ms, double P95Ms, int Runs, bool Throttled);

/// <summary>
/// Runs a model on the self-test image before the agent trusts it with frames: it must run, its outputs must have the
/// shapes its layout expects (<see cref="Detector.CheckOutputShapes"/>: what it produces, not what it declares), its decoded
/// detections must be sane (finite boxes inside the image, scores in [0, 1], known classes, no more than the cap),
/// and its median latency over <see cref="ModelOptions.HealthCheckRuns"/> runs must stay at or under the bound. The
/// same image serves the benchmark of each variant. The detector passed in must not be in use elsewhere.
/// </summary>
public sealed class ModelHealthCheck(ModelOptions options)
{
    /// <summary>The generated self-test image's size: a typical camera frame's aspect, so letterboxing is exercised.</summary>
    public const int GeneratedWidth = 640;
    public const int GeneratedHeight = 480;

    /// <summary>Checks <paramref name="detector"/>; <paramref name="maxLatencyMs"/> is the median bound.</summary>
    public HealthResult Check(Detector detector, double maxLatencyMs)
    {
        ArgumentNullException.ThrowIfNull(detector);
        using var image = LoadImage();
        var results = new List<Detection>();
        var samples = new double[options.HealthCheckRuns];
        try
        {
            detector.Detect(image, results);
            var problem = detector.CheckOutputShapes() ?? Insane(detector, image, results);
            if (problem is not null)
            {
                return HealthResult.Fail(ModelReasonCodes.HealthShape, problem);
            }

            for (var i = 0; i < samples.Length; i++)
            {
                detector.Detect(image, results);
                samples[i] = detector.LastTimings.TotalMs;
                problem = Insane(detector, image, results);
                if (problem is not null)
                {
                    return HealthResult.Fail(ModelReasonCodes.HealthShape, problem);
                }
            }
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // A run into the bound buffers fails when the output has another shape; say which, where it can be told.
            return HealthResult.Fail(ModelReasonCodes.HealthShape, $"the model failed on the self-test image: {ShapeProblem(detector) ?? ex.Message}");
        }

        var summary = LatencySummary.Of(samples);
        return summary.P50 > maxLatencyMs
            ? HealthResult.Fail(ModelReasonCodes.HealthLatency,
                $"median latency {summary.P50:F1} ms over {samples.Length} runs is over the bound of {maxLatencyMs:G4} ms", summary.P50, summary.P95)
            : new HealthResult(true, "", $"median {summary.P50:F1} ms, p95 {summary.P95:F1} ms over {samples.Length} runs", summary.P50, summary.P95);
    }

    /// <summary>The model's own time (ONNX Runtime's run) on the self-test image: warm-up runs, then timed ones.</summary>
    public BenchmarkResult Benchmark(Detector detector, Func<bool> throttled)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(throttled);
        using var image = LoadImage();
        var results = new List<Detection>();
        var wasThrottled = throttled();
        for (var i = 0; i < options.BenchmarkWarmupRuns; i++)
        {
            detector.Detect(image, results);
        }

        var samples = new double[options.BenchmarkRuns];
        for (var i = 0; i < samples.Length; i++)
        {
            detector.Detect(image, results);
            samples[i] = detector.LastTimings.InferenceMs;
        }

        var summary = LatencySummary.Of(samples);
        return new BenchmarkResult(summary.P50, summary.P95, samples.Length, wasThrottled || throttled());
    }

    /// <summary>The configured self-test image, else <see cref="GenerateImage"/>.</summary>
    public Mat LoadImage()
    {
        if (string.IsNullOrEmpty(options.SelfTestImage))
        {
            return GenerateImage();
        }

        var image = Cv2.ImRead(options.SelfTestImage, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new InvalidOperationException($"Agent:Models:SelfTestImage '{options.SelfTestImage}' cannot be read as an image.");
        }

        return image;
    }

    /// <summary>
    /// A synthetic BGR frame, identical on every device and run: a colour gradient with shapes of several sizes and
    /// colours, so that preprocessing, the model and the decoder all see structure rather than a flat image.
    /// </summary>
    public static Mat GenerateImage()
    {
        var pixels = new byte[GeneratedHeight * GeneratedWidth * 3];
        for (var y = 0; y < GeneratedHeight; y++)
        {
            for (var x = 0; x < GeneratedWidth; x++)
            {
                var at = ((y * GeneratedWidth) + x) * 3;
                pixels[at] = (byte)(x * 255 / GeneratedWidth);
                pixels[at + 1] = (byte)(y * 255 / GeneratedHeight);
                pixels[at + 2] = (byte)((x + y) % 256);
            }
        }

        var image = new Mat(GeneratedHeight, GeneratedWidth, MatType.CV_8UC3);
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, image.Data, pixels.Length);

        var random = new Random(20261207);
        for (var i = 0; i < 24; i++)
        {
            var colour = new Scalar(random.Next(256), random.Next(256), random.Next(256));
            var centre = new Point(random.Next(GeneratedWidth), random.Next(GeneratedHeight));
            var size = random.Next(12, 160);
            if (i % 2 == 0)
            {
                Cv2.Rectangle(image, new Rect(centre.X - (size / 2), centre.Y - size, size, size * 2), colour, thickness: -1);
            }
            else
            {
                Cv2.Circle(image, centre, size / 2, colour, thickness: -1);
            }
        }

        return image;
    }

    private static string? ShapeProblem(Detector detector)
    {
        try
        {
            return detector.CheckOutputShapes();
        }
        catch (OnnxRuntimeException)
        {
            return null;
        }
    }

    private static string? Insane(Detector detector, Mat image, List<Detection> results)
    {
        var maxDetections = detector.Thresholds.MaxDetections;
        if (results.Count > maxDetections)
        {
            return $"{results.Count} detections on the self-test image; the cap is {maxDetections}";
        }

        var classes = detector.Model.ClassNames.Count;
        foreach (var d in results)
        {
            if (!(d.Score is >= 0f and <= 1f))
            {
                return $"a detection scored {d.Score}; scores lie in [0, 1]";
            }

            if (d.ClassId < 0 || d.ClassId >= classes)
            {
                return $"a detection has class {d.ClassId}; the model has {classes} classes";
            }

            if (!float.IsFinite(d.X1) || !float.IsFinite(d.Y1) || !float.IsFinite(d.X2) || !float.IsFinite(d.Y2)
                || d.X1 < 0 || d.Y1 < 0 || d.X2 > image.Width || d.Y2 > image.Height || d.X2 < d.X1 || d.Y2 < d.Y1)
            {
                return $"a detection's box ({d.X1}, {d.Y1}, {d.X2}, {d.Y2}) is not a finite box inside the {image.Width} x {image.Height} image";
            }
        }

        return null;
    }
}
