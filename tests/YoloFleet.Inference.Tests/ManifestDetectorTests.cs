using OpenCvSharp;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>A manifest applied by <see cref="Detector.Open"/>: discovery, contradictions, precedence, overrides.</summary>
public sealed class ManifestDetectorTests : IDisposable
{
    private const string ModelFile = "crafted.onnx";

    private readonly TempFolder _folder = new();
    private readonly byte[] _modelBytes;
    private readonly string _modelPath;

    public ManifestDetectorTests()
    {
        // A YOLOX-shaped model (32x32 input, [1, 21, 7]: 21 cells, 2 classes) with two separate boxes, stride 8:
        // cell (1, 1) centre (12, 12), 8 x 4, score 0.9 * 0.8 = 0.72 for class 1; cell (3, 1) centre (28, 12), 4 x 4,
        // score 0.5 * 0.6 = 0.3 for class 0. Both lie in the top half, where a 64x32 frame sits in the input.
        const int rowLength = 7;
        var rows = new float[21 * rowLength];
        new float[] { 0.5f, 0.5f, 0f, MathF.Log(0.5f), 0.9f, 0.1f, 0.8f }.CopyTo(rows, 5 * rowLength);
        new float[] { 0.5f, 0.5f, MathF.Log(0.5f), MathF.Log(0.5f), 0.5f, 0.6f, 0.1f }.CopyTo(rows, 7 * rowLength);
        _modelBytes = TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 21, rowLength], rows);
        _modelPath = _folder.Write(ModelFile, _modelBytes);
    }

    private ModelManifest Manifest => TestManifests.For(_modelBytes, ModelFile);

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Finds_the_manifest_beside_the_model_and_reports_it()
    {
        var manifestPath = TestManifests.WriteBeside(_modelPath, Manifest with { Precision = "int8", ClassNames = ["cat", "dog"] });

        using var detector = Detector.Open(_modelPath);

        Assert.Equal(_modelPath + ".manifest.json", manifestPath);
        Assert.Equal(manifestPath, detector.Model.ManifestPath);
        Assert.Equal(ModelPrecision.Int8, detector.Model.Precision);
        Assert.Equal(["cat", "dog"], detector.Model.ClassNames);
        Assert.Equal(Manifest.Model.Sha256, detector.Model.Sha256);
        Assert.Equal("crafted", detector.Model.Manifest!.Name);
    }

    [Fact]
    public void Without_a_manifest_nothing_changes()
    {
        using var detector = Detector.Open(_modelPath);

        Assert.Null(detector.Model.Manifest);
        Assert.Null(detector.Model.ManifestPath);
        Assert.Equal(ModelPrecision.Unknown, detector.Model.Precision);
        Assert.Equal(DetectionThresholds.Default, detector.Thresholds);
        Assert.Equal(64, detector.Model.Sha256.Length);
    }

    [Fact]
    public void An_explicit_manifest_wins_over_the_one_beside_the_model()
    {
        TestManifests.WriteBeside(_modelPath, Manifest with { ClassNames = ["beside", "model"] });

        using var detector = Detector.Open(_modelPath, manifest: Manifest with { ClassNames = ["explicit", "one"] });

        Assert.Equal(["explicit", "one"], detector.Model.ClassNames);
        Assert.Null(detector.Model.ManifestPath);
    }

    [Fact]
    public void A_broken_manifest_beside_the_model_is_refused_naming_both()
    {
        var manifestPath = _folder.Write(ModelFile + ".manifest.json", "{ \"schemaVersion\": 1, \"name\": \"x\" ");

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(_modelPath));

        Assert.Equal(_modelPath, error.ModelPath);
        Assert.Contains(manifestPath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_sha256_is_refused()
    {
        var wrong = new string('0', 64);

        var error = Assert.Throws<ModelLoadException>(() =>
            Detector.Open(_modelPath, manifest: Manifest with { Model = Manifest.Model with { Sha256 = wrong } }));

        Assert.Contains("contradicts the model", error.Message, StringComparison.Ordinal);
        Assert.Contains($"model.sha256 is {wrong}, but the file's SHA-256 is {Manifest.Model.Sha256}", error.Message, StringComparison.Ordinal);
        Assert.Equal(_modelPath, error.ModelPath);
    }

    [Fact]
    public void Wrong_size_is_refused()
    {
        var error = Assert.Throws<ModelLoadException>(() =>
            Detector.Open(_modelPath, manifest: Manifest with { Model = Manifest.Model with { SizeBytes = 12345 } }));

        Assert.Contains($"model.sizeBytes is 12345, but the file has {_modelBytes.Length} bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Input_size_other_than_the_models_fixed_one_is_refused()
    {
        var error = Assert.Throws<ModelLoadException>(() =>
            Detector.Open(_modelPath, manifest: Manifest with { Input = new ManifestInput { Width = 64, Height = 32 } }));

        Assert.Contains("input is 64 x 32, but the model's input is fixed at 32 x 32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Class_name_count_other_than_the_models_is_refused()
    {
        var error = Assert.Throws<ModelLoadException>(() =>
            Detector.Open(_modelPath, manifest: Manifest with { ClassNames = ["a", "b", "c"] }));

        Assert.Contains("lists 3 class names, but the model", error.Message, StringComparison.Ordinal);
        Assert.Contains("(layout yolox) has 2 classes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layout_that_does_not_fit_the_outputs_is_refused()
    {
        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(_modelPath, manifest: Manifest with { Layout = "yolov8" }));

        Assert.Contains("layout is 'yolov8', but the outputs output [1,21,7] at input 32 x 32 do not fit it", error.Message, StringComparison.Ordinal);
        Assert.Contains("they look like 'yolox'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layout_that_fits_overrides_recognition()
    {
        // [1, 84, 84] at 64x64 reads as a 79-class YOLOX without metadata; the manifest says it is an 80-class YOLOv8.
        var bytes = TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 84, 84], new float[84 * 84]);
        var path = _folder.Write("ambiguous.onnx", bytes);

        using var recognised = Detector.Open(path);
        using var declared = Detector.Open(path, manifest: TestManifests.For(bytes, "ambiguous.onnx") with { Layout = "yolov8" });

        Assert.Equal(("yolox", 79), (recognised.Model.Layout, recognised.Model.ClassNames.Count));
        Assert.Equal(("yolov8", 80), (declared.Model.Layout, declared.Model.ClassNames.Count));
    }

    [Fact]
    public void Invalid_manifest_built_in_code_is_refused_like_a_file()
    {
        var error = Assert.Throws<ModelLoadException>(() =>
            Detector.Open(_modelPath, manifest: Manifest with { Thresholds = new ManifestThresholds { Confidence = 2f } }));

        Assert.Contains("'crafted 1.0.0' is invalid: thresholds.confidence is 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(_modelPath, error.ModelPath);
    }

    [Fact]
    public void Manifest_thresholds_apply_when_the_options_leave_them_unset()
    {
        using var defaults = Detector.Open(_modelPath);
        using var strict = Detector.Open(_modelPath, manifest: Manifest with { Thresholds = new ManifestThresholds { Confidence = 0.5f } });

        Assert.Equal([1, 0], Detect(defaults).Select(detection => detection.ClassId));
        Assert.Equal([1], Detect(strict).Select(detection => detection.ClassId));
        Assert.Equal(DetectionThresholds.Default with { Confidence = 0.5f }, strict.Thresholds);
    }

    [Fact]
    public void Options_the_caller_set_win_over_the_manifest_even_at_the_default_value()
    {
        var manifest = Manifest with { Thresholds = new ManifestThresholds { Confidence = 0.5f, MaxDetections = 1, NmsIou = 0.7f } };

        using var explicitDefault = Detector.Open(_modelPath, new DetectorOptions { ConfidenceThreshold = 0.25f, MaxDetections = 300 }, manifest);
        using var mixed = Detector.Open(_modelPath, new DetectorOptions { ConfidenceThreshold = 0.1f }, manifest);

        Assert.Equal(new DetectionThresholds(0.25f, 0.7f, 300, ClassAgnostic: false), explicitDefault.Thresholds);
        Assert.Equal(2, Detect(explicitDefault).Length);
        Assert.Equal(new DetectionThresholds(0.1f, 0.7f, 1, ClassAgnostic: false), mixed.Thresholds);
        Assert.Single(Detect(mixed));
    }

    [Fact]
    public void Unset_options_still_read_as_the_defaults()
    {
        var options = new DetectorOptions();

        Assert.Equal((0.25f, 0.45f, 300, false), (options.ConfidenceThreshold, options.NmsIouThreshold, options.MaxDetections, options.ClassAgnosticNms));
        Assert.Equal(DetectionThresholds.Default, options.ResolveThresholds(null));
    }

    [Fact]
    public void Manifest_preprocessing_changes_where_the_frame_sits()
    {
        // A 64x32 frame in the 32x32 input: ratio 0.5, 16 rows of image. YOLOX puts them at the top; "center" puts
        // 8 rows of padding above, so the same input box (8, 10)-(16, 14) lands 16 frame pixels higher.
        using var topLeft = Detector.Open(_modelPath);
        using var centred = Detector.Open(_modelPath, manifest: Manifest with { Preprocessing = new ManifestPreprocessing { PadPlacement = "center" } });

        var fromTopLeft = Detect(topLeft)[0];
        var fromCentred = Detect(centred)[0];

        Assert.Equal((16f, 20f, 32f, 28f), (fromTopLeft.X1, fromTopLeft.Y1, fromTopLeft.X2, fromTopLeft.Y2));
        Assert.Equal((16f, 4f, 32f, 12f), (fromCentred.X1, fromCentred.Y1, fromCentred.X2, fromCentred.Y2));
    }

    private static Detection[] Detect(Detector detector)
    {
        using var frame = new Mat(32, 64, MatType.CV_8UC3, Scalar.All(0));
        return detector.Detect(frame);
    }
}
