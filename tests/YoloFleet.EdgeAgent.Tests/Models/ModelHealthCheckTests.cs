using OpenCvSharp;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>The health check on models built for it: healthy, the wrong output shape, impossible scores, too slow.</summary>
public sealed class ModelHealthCheckTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-health-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ModelHealthCheck _health = new(new ModelOptions { HealthCheckRuns = 5 });

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void A_model_that_runs_with_sane_outputs_within_the_bound_passes()
    {
        using var detector = Detector.Open(TinyModels.WriteYolox(_directory, "ok.onnx"));

        var result = _health.Check(detector, maxLatencyMs: 1000);

        Assert.True(result.Passed, result.Detail);
        Assert.InRange(result.MedianMs, 0.0001, 1000);
    }

    [Fact]
    public void A_model_whose_output_is_not_the_shape_it_declares_fails_with_health_shape()
    {
        // It loads: the declared output [1,84,85] fits a layout. Run on the self-test image, it produces [1,0,85].
        using var detector = Detector.Open(TinyModels.WriteWrongShape(_directory, "wrong-shape.onnx"));

        var result = _health.Check(detector, maxLatencyMs: 1000);

        Assert.False(result.Passed);
        Assert.Equal(ModelReasonCodes.HealthShape, result.ReasonCode);
        Assert.Contains("[1,0,85]", result.Detail, StringComparison.Ordinal);
        Assert.Contains($"layout {detector.Model.Layout} expects", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_whose_decoded_scores_are_impossible_fails_with_health_shape()
    {
        using var detector = Detector.Open(TinyModels.WriteOverconfident(_directory, "overconfident.onnx"));

        var result = _health.Check(detector, maxLatencyMs: 1000);

        Assert.False(result.Passed);
        Assert.Equal(ModelReasonCodes.HealthShape, result.ReasonCode);
        Assert.Contains("scores lie in [0, 1]", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_slower_than_the_bound_fails_with_health_latency()
    {
        // yolox_nano_416 takes tens of milliseconds a frame here; a 0.5 ms bound is one no real detector meets.
        using var detector = Detector.Open(SharedData.YoloxNano416);

        var result = _health.Check(detector, maxLatencyMs: 0.5);

        Assert.False(result.Passed);
        Assert.Equal(ModelReasonCodes.HealthLatency, result.ReasonCode);
        Assert.True(result.MedianMs > 0.5);
        Assert.Contains("over the bound of 0.5 ms", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_generated_self_test_image_is_the_same_every_time_and_not_flat()
    {
        using var first = ModelHealthCheck.GenerateImage();
        using var second = ModelHealthCheck.GenerateImage();
        first.GetArray(out Vec3b[] a);
        second.GetArray(out Vec3b[] b);

        Assert.Equal(a, b);
        Assert.Equal((ModelHealthCheck.GeneratedWidth, ModelHealthCheck.GeneratedHeight), (first.Width, first.Height));
        Assert.True(a.Distinct().Count() > 1000, "the image should have structure");
    }

    [Fact]
    public void The_benchmark_reports_median_and_p95_of_the_timed_runs_and_the_throttle_state()
    {
        using var detector = Detector.Open(TinyModels.WriteYolox(_directory, "bench.onnx"));
        var health = new ModelHealthCheck(new ModelOptions { BenchmarkWarmupRuns = 1, BenchmarkRuns = 7 });

        var result = health.Benchmark(detector, () => true);

        Assert.Equal(7, result.Runs);
        Assert.True(result.Throttled);
        Assert.InRange(result.P50Ms, 0.0001, result.P95Ms);
    }
}
