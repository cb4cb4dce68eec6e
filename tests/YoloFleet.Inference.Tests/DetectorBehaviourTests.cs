using OpenCvSharp;
using Xunit.Abstractions;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class DetectorBehaviourTests(YoloxNanoFixture fixture, ITestOutputHelper output) : IClassFixture<YoloxNanoFixture>
{
    private const string Kitchen = "000000000009";
    private const string Giraffes = "000000000025";

    private readonly Detector _detector = fixture.Detector;

    [Fact]
    public void Same_image_gives_identical_detections_even_after_another_image()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var giraffes = ImageFile.Read(CocoLabels.ImagePath(Giraffes));
        var results = new List<Detection>();

        _detector.Detect(kitchen, results);
        var first = results.ToArray();
        _detector.Detect(giraffes, results);
        var other = results.ToArray();
        _detector.Detect(kitchen, results);
        var again = results.ToArray();

        Assert.NotEmpty(first);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.DoesNotContain(other, first.Contains);
    }

    [Fact]
    public void Output_shapes_are_checked_against_what_the_model_produces_not_what_it_declares()
    {
        using var image = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        _detector.Detect(image, []);
        Assert.Null(_detector.CheckOutputShapes());

        // Declares [1,84,85]; on an image with a 0 value it produces [1,0,85], which only a run shows.
        using var folder = new TempFolder();
        using var lying = Detector.Open(folder.Write("lying.onnx", TinyOnnxModel.ImageDependentRows(64, 64, [1, 84, 85], 0f)));
        using var black = new Mat(64, 64, MatType.CV_8UC3, Scalar.All(0));
        try
        {
            lying.Detect(black, []);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException ex)
        {
            output.WriteLine($"the bound run refused it: {ex.Message}");
        }

        var problem = lying.CheckOutputShapes();
        Assert.NotNull(problem);
        Assert.Contains("is [1,0,85]", problem, StringComparison.Ordinal);
        Assert.Contains("expects [1,84,85]", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Clears_the_results_list_it_is_given()
    {
        using var giraffes = ImageFile.Read(CocoLabels.ImagePath(Giraffes));
        var junk = new Detection(79, 1f, 0, 0, 1, 1);
        var results = new List<Detection> { junk, junk, junk };

        _detector.Detect(giraffes, results);

        Assert.DoesNotContain(junk, results);
        Assert.Equal(_detector.Detect(giraffes), results.ToArray());
    }

    [Fact]
    public void Steady_state_frames_allocate_almost_nothing()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        var results = new List<Detection>();
        for (var i = 0; i < 3; i++)
        {
            _detector.Detect(kitchen, results);
        }

        const int frames = 10;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < frames; i++)
        {
            _detector.Detect(kitchen, results);
        }

        var perFrame = (GC.GetAllocatedBytesForCurrentThread() - before) / frames;
        output.WriteLine($"{perFrame} bytes allocated per frame; last frame {_detector.LastTimings}");
        Assert.NotEmpty(results);
        // A sanity bound: one frame's input tensor alone is 2 MB, so any per-frame buffer would blow far past this.
        Assert.True(perFrame < 64 * 1024, $"{perFrame} bytes allocated per frame");
    }

    [Fact]
    public void Region_of_interest_gives_the_same_result_as_its_copy()
    {
        // A sub-Mat shares its parent's rows, so its rows are not contiguous: the preprocessor must follow the row step.
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var region = new Mat(kitchen, new Rect(100, 50, 416, 416));
        using var copy = region.Clone();

        var fromRegion = _detector.Detect(region);

        Assert.False(region.IsContinuous());
        Assert.NotEmpty(fromRegion);
        Assert.Equal(_detector.Detect(copy), fromRegion);
    }

    [Fact]
    public void Bgra_input_gives_the_same_result_as_bgr()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var bgra = new Mat();
        Cv2.CvtColor(kitchen, bgra, ColorConversionCodes.BGR2BGRA);

        Assert.Equal(_detector.Detect(kitchen), _detector.Detect(bgra));
    }

    [Fact]
    public void Grey_input_is_accepted()
    {
        using var giraffes = ImageFile.Read(CocoLabels.ImagePath(Giraffes));
        using var grey = new Mat();
        Cv2.CvtColor(giraffes, grey, ColorConversionCodes.BGR2GRAY);

        var detections = _detector.Detect(grey);

        Assert.Contains(detections, detection => detection.ClassId == 23);
        Assert.All(detections, detection => Assert.InRange(detection.X2, 0f, grey.Width));
    }

    [Fact]
    public void Rejects_empty_and_float_images()
    {
        using var empty = new Mat();
        using var floats = new Mat(32, 32, MatType.CV_32FC3, Scalar.All(0));

        Assert.Throws<ArgumentException>(() => _detector.Detect(empty));
        var error = Assert.Throws<ArgumentException>(() => _detector.Detect(floats));
        Assert.Contains("8-bit BGR", error.Message);
    }
}

/// <summary>Options change behaviour; each test opens its own detector.</summary>
public sealed class DetectorOptionsTests
{
    private const string Kitchen = "000000000009";

    [Fact]
    public void Higher_threshold_and_max_detections_trim_the_results()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var permissive = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { ConfidenceThreshold = 0.1f });
        using var strict = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { ConfidenceThreshold = 0.5f });
        using var single = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { ConfidenceThreshold = 0.1f, MaxDetections = 1 });

        var all = permissive.Detect(kitchen);
        var confident = strict.Detect(kitchen);
        var best = single.Detect(kitchen);

        Assert.True(all.Length > confident.Length, $"{all.Length} at 0.1 vs {confident.Length} at 0.5");
        Assert.Contains(all, detection => detection.Score < 0.5f);
        Assert.All(confident, detection => Assert.True(detection.Score >= 0.5f));
        Assert.Equal(all.Where(detection => detection.Score >= 0.5f), confident);
        Assert.Equal([all[0]], best);
    }

    [Fact]
    public void Class_agnostic_nms_never_keeps_more_boxes()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var perClass = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { ConfidenceThreshold = 0.05f });
        using var agnostic = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { ConfidenceThreshold = 0.05f, ClassAgnosticNms = true });

        var perClassResults = perClass.Detect(kitchen);
        var agnosticResults = agnostic.Detect(kitchen);

        // At this low threshold some boxes of different classes overlap, which only agnostic NMS removes.
        Assert.True(agnosticResults.Length < perClassResults.Length, $"{agnosticResults.Length} agnostic vs {perClassResults.Length} per class");
        Assert.All(agnosticResults, detection => Assert.Contains(detection, perClassResults));
    }

    [Fact]
    public void Thread_and_spinning_settings_do_not_change_results()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        using var oneThread = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { IntraOpThreads = 1, AllowSpinning = true });
        using var defaults = Detector.Open(SharedData.YoloxNano416);

        var a = oneThread.Detect(kitchen);
        var b = defaults.Detect(kitchen);

        DetectionAssert.SameWithinRuntimeNoise(a, b);
    }

    [Theory]
    [InlineData(-0.1f, 0.45f, 300, 0)]
    [InlineData(1.1f, 0.45f, 300, 0)]
    [InlineData(0.25f, 1.5f, 300, 0)]
    [InlineData(0.25f, 0.45f, 0, 0)]
    [InlineData(0.25f, 0.45f, 300, -1)]
    public void Rejects_out_of_range_options(float confidence, float iou, int maxDetections, int threads)
    {
        var options = new DetectorOptions { ConfidenceThreshold = confidence, NmsIouThreshold = iou, MaxDetections = maxDetections, IntraOpThreads = threads };

        Assert.Throws<ArgumentOutOfRangeException>(() => Detector.Open(SharedData.YoloxNano416, options));
    }

    [Fact]
    public void Detect_after_dispose_throws()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath(Kitchen));
        var detector = Detector.Open(SharedData.YoloxNano416);
        detector.Dispose();
        detector.Dispose();

        Assert.Throws<ObjectDisposedException>(() => detector.Detect(kitchen));
    }
}
