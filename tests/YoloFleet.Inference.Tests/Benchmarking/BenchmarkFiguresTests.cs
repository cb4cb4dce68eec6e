using System.Text.Json;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Benchmarking;

/// <summary>The bench core's figures agree with each other. Nothing here asserts a speed: the machines are shared.</summary>
public sealed class BenchmarkFiguresTests(YoloxNanoFixture fixture) : IClassFixture<YoloxNanoFixture>
{
    private static readonly string[] Images = [CocoLabels.ImagePath("000000000009"), CocoLabels.ImagePath("000000000025")];

    private static readonly string[] ModelKeys =
    [
        "model", "modelVersion", "fps", "runOnlyFps", "fpsRatio", "latencyMs", "runOnlyLatencyMs", "splitMs", "prePostShare",
        "allocBytesPerFrame", "modelSizeBytes",
    ];

    [Fact]
    public void Counts_percentiles_and_split_agree()
    {
        using var images = BenchmarkImages.FromFiles(Images, keepEncoded: false);

        var report = DetectorBenchmark.Run(fixture.Detector, null, images, new BenchmarkSettings { Frames = 7, Warmup = 1, BlockSize = 3, Threads = 2 });

        var result = report.Primary;
        Assert.Equal(7, result.Frames);
        Assert.Equal(2, report.Images);
        AssertOrdered(result.Latency);
        AssertOrdered(result.RunOnlyLatency);
        Assert.Equal(0, result.Split.DecodeMs);
        Assert.All([result.Split.PreprocessMs, result.Split.InferenceMs, result.Split.PostprocessMs], stage => Assert.True(stage > 0));

        // The frame is timed around Detect, the split inside it: the split is a little less, never more.
        var split = result.Split.TotalMs;
        Assert.True(split <= result.Latency.Mean + 1e-9, $"split {split} ms > frame mean {result.Latency.Mean} ms");
        Assert.True(result.Latency.Mean - split < 1.0 + 0.15 * result.Latency.Mean, $"split {split} ms, frame mean {result.Latency.Mean} ms");

        Assert.Equal(1000 / result.Latency.Mean, result.Fps, 6);
        Assert.Equal(result.Fps / result.RunOnlyFps, result.FpsRatio, 6);
        Assert.InRange(result.PrePostShare, 0, 1);
        Assert.Equal(new FileInfo(SharedData.YoloxNano416).Length, result.ModelSizeBytes);
        Assert.True(result.Detections > 0);
        Assert.True(report.PeakRssMb > 0);
        Assert.True(report.ImageBytes > 0);
    }

    [Fact]
    public void Compare_measures_both_models_and_json_has_the_documented_keys()
    {
        using var other = Detector.Open(SharedData.PicoDetS320, new DetectorOptions { IntraOpThreads = 2 });
        using var images = BenchmarkImages.FromFiles(Images, keepEncoded: true);

        var report = DetectorBenchmark.Run(fixture.Detector, other, images,
            new BenchmarkSettings { Frames = 4, Warmup = 1, BlockSize = 2, IncludeDecode = true, ComparePlainRun = true, Threads = 2 });

        Assert.NotNull(report.Compare);
        Assert.Equal(4, report.Compare.Frames);
        Assert.True(report.Primary.Split.DecodeMs > 0);
        Assert.Equal(report.Compare.Latency.P50 / report.Primary.Latency.P50, report.LatencyRatio!.Value, 9);

        using var json = JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        foreach (var key in ModelKeys.Concat(["frames", "threads", "peakRssMb", "targets", "compare", "latencyRatio"]))
        {
            Assert.True(root.TryGetProperty(key, out _), $"missing top-level key {key}");
        }

        foreach (var key in ModelKeys)
        {
            Assert.True(root.GetProperty("compare").TryGetProperty(key, out _), $"missing compare.{key}");
        }

        foreach (var key in new[] { "p50", "p95", "p99", "mean" })
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty("latencyMs").GetProperty(key).ValueKind);
        }

        foreach (var key in new[] { "decode", "preprocess", "inference", "postprocess" })
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty("splitMs").GetProperty(key).ValueKind);
        }

        Assert.Equal("yolox_nano_416.onnx", root.GetProperty("model").GetString());
        Assert.Equal("picodet_s_320_coco.onnx", root.GetProperty("compare").GetProperty("model").GetString());
        Assert.Equal(4, root.GetProperty("frames").GetInt32());
        Assert.Equal(2, root.GetProperty("threads").GetInt32());
        Assert.True(root.GetProperty("plainRun").GetProperty("latencyMs").GetProperty("mean").GetDouble() > 0);
        // Two models are loaded and decoding allocates: those targets are reported but not judged.
        Assert.Equal(JsonValueKind.Null, root.GetProperty("targets").GetProperty("peakRssMb").GetProperty("pass").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("targets").GetProperty("allocBytesPerFrame").GetProperty("pass").ValueKind);
        Assert.Contains("latencyRatio", report.ToText());
    }

    [Fact]
    public void Ratios_follow_their_definitions()
    {
        var model = new ModelInfo("/m/a.onnx", "a@0", "yolox", 416, 416, []);
        var first = new ModelBenchmark(model, 100, Frames: 10,
            Latency: new LatencySummary(P50: 20, P95: 24, P99: 30, Mean: 25, Min: 19, Max: 31),
            RunOnlyLatency: new LatencySummary(18, 20, 21, 20, 17, 22),
            Split: new StageTimings(0, PreprocessMs: 1, InferenceMs: 20, PostprocessMs: 4),
            AllocatedBytes: 20_000, RunOnlyAllocatedBytes: 0, Detections: 30);
        var second = first with { Latency = new LatencySummary(30, 33, 35, 50, 29, 36) };

        var report = new BenchmarkReport(first, second, 10, 0, 5, 2, 1, false, 140, 0, null, null);

        Assert.Equal(40, first.Fps, 9);
        Assert.Equal(50, first.RunOnlyFps, 9);
        Assert.Equal(0.8, first.FpsRatio, 9);
        Assert.Equal(5.0 / 25.0, first.PrePostShare, 9);
        Assert.Equal(2000, first.AllocBytesPerFrame, 9);
        Assert.Equal(3, first.DetectionsPerFrame, 9);
        Assert.Equal(1.5, report.LatencyRatio!.Value, 9);
        Assert.Equal(2.0, report.MeanLatencyRatio!.Value, 9);

        var targets = report.Targets.ToDictionary(target => target.Name);
        Assert.False(targets["prePostShare"].Passed);
        Assert.False(targets["fpsRatio"].Passed);
        Assert.False(targets["allocBytesPerFrame"].Passed);
        Assert.Null(targets["peakRssMb"].Passed);

        var alone = report with { Compare = null };
        Assert.Null(alone.LatencyRatio);
        Assert.True(alone.Targets.Single(target => target.Name == "peakRssMb").Passed);
        Assert.Contains("FAIL  prePostShare", alone.ToText());
        Assert.Contains("PASS  peakRssMb", alone.ToText());
    }

    [Fact]
    public void Percentiles_interpolate_between_ranks()
    {
        var samples = Enumerable.Range(1, 100).Select(value => (double)value).Reverse().ToArray();

        var summary = LatencySummary.Of(samples);

        Assert.Equal(50.5, summary.P50, 9);
        Assert.Equal(95.05, summary.P95, 9);
        Assert.Equal(99.01, summary.P99, 9);
        Assert.Equal(50.5, summary.Mean, 9);
        Assert.Equal(1, summary.Min);
        Assert.Equal(100, summary.Max);
        Assert.Equal(new LatencySummary(7, 7, 7, 7, 7, 7), LatencySummary.Of([7.0]));
        Assert.Equal(default, LatencySummary.Of([]));
    }

    [Theory]
    [InlineData(0, 0, 1)]
    [InlineData(1, -1, 1)]
    [InlineData(1, 0, 0)]
    public void Rejects_bad_settings(int frames, int warmup, int blockSize)
    {
        using var images = BenchmarkImages.FromFiles(Images[..1], keepEncoded: false);
        var settings = new BenchmarkSettings { Frames = frames, Warmup = warmup, BlockSize = blockSize };

        Assert.Throws<ArgumentOutOfRangeException>(() => DetectorBenchmark.Run(fixture.Detector, null, images, settings));
    }

    [Fact]
    public void Decode_setting_must_match_how_the_images_were_read()
    {
        using var decoded = BenchmarkImages.FromFiles(Images[..1], keepEncoded: false);

        var error = Assert.Throws<ArgumentException>(() =>
            DetectorBenchmark.Run(fixture.Detector, null, decoded, new BenchmarkSettings { Frames = 1, IncludeDecode = true }));
        Assert.Contains("keepEncoded", error.Message);
    }

    [Fact]
    public void Image_folder_errors_name_the_folder()
    {
        using var empty = new TempFolder();
        empty.Write("notes.txt", "not an image");

        var none = Assert.Throws<ImageReadException>(() => BenchmarkImages.FromFolder(empty.Path, 4, keepEncoded: false));
        Assert.Contains(empty.Path, none.Message);
        Assert.Throws<DirectoryNotFoundException>(() => BenchmarkImages.FromFolder(empty.File("missing"), 4, keepEncoded: false));

        empty.Write("broken.jpg", "not a jpeg either");
        var broken = Assert.Throws<ImageReadException>(() => BenchmarkImages.FromFolder(empty.Path, 4, keepEncoded: true));
        Assert.Contains("broken.jpg", broken.Message);
    }

    private static void AssertOrdered(LatencySummary latency)
    {
        Assert.True(latency.Min > 0);
        Assert.True(latency.Min <= latency.P50, $"min {latency.Min} > p50 {latency.P50}");
        Assert.True(latency.P50 <= latency.P95, $"p50 {latency.P50} > p95 {latency.P95}");
        Assert.True(latency.P95 <= latency.P99, $"p95 {latency.P95} > p99 {latency.P99}");
        Assert.True(latency.P99 <= latency.Max, $"p99 {latency.P99} > max {latency.Max}");
        Assert.InRange(latency.Mean, latency.Min, latency.Max);
    }
}
