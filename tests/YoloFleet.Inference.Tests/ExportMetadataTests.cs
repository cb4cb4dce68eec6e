using OpenCvSharp;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>Reading Ultralytics' ONNX metadata_props: names as Python literals, imgsz, stride, task, end2end.</summary>
public sealed class ExportMetadataTests
{
    [Theory]
    [InlineData("{0: 'person', 1: 'bicycle'}", new[] { "person", "bicycle" })]
    [InlineData("{1: 'b', 0: 'a'}", new[] { "a", "b" })]                                       // key order, not text order
    [InlineData("{0: \"o'clock\", 1: 'say \"hi\"'}", new[] { "o'clock", "say \"hi\"" })]       // Python picks the other quote
    [InlineData("{0: 'it\\'s \"both\"', 1: 'back\\\\slash'}", new[] { "it's \"both\"", @"back\slash" })]
    [InlineData("{0: 'a, b: c', 1: '{x}'}", new[] { "a, b: c", "{x}" })]                       // separators inside names
    [InlineData(@"{0: 'caf\xe9', 1: '\u00fcber', 2: 'naïve'}", new[] { "café", "über", "naïve" })]
    [InlineData("{'0': 'quoted key', \"1\": 'too'}", new[] { "quoted key", "too" })]
    [InlineData("{ 0 : 'spaced' ,\n 1:'tight', }", new[] { "spaced", "tight" })]              // whitespace, trailing comma
    [InlineData("['person', \"car\"]", new[] { "person", "car" })]                              // older YOLOv5 list
    [InlineData("{0: u'unicode', 1: r'raw\\d'}", new[] { "unicode", @"raw\d" })]
    public void Names_literals_are_read_whatever_the_quoting(string literal, string[] expected)
    {
        Assert.Equal(expected, PythonNamesLiteral.Parse(literal));
    }

    [Theory]
    [InlineData("{0: 'a', 2: 'c'}", "1 is missing")]
    [InlineData("{0: 'a', 0: 'b'}", "appears twice")]
    [InlineData("{0: 'unterminated}", "no closing")]
    [InlineData("person, bicycle", "expected a dict")]
    [InlineData("{0: person}", "quoted name")]
    [InlineData("{zero: 'a'}", "class id")]
    [InlineData("{0: 'a'} extra", "after the closing")]
    [InlineData("{}", "no classes")]
    public void Malformed_names_literals_say_what_is_wrong(string literal, string expectedFragment)
    {
        var error = Assert.Throws<FormatException>(() => PythonNamesLiteral.Parse(literal));

        Assert.Contains(expectedFragment, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[640, 640]", 640, 640)]
    [InlineData("[480, 640]", 640, 480)]   // Ultralytics writes height, width
    [InlineData("(320,416)", 416, 320)]
    [InlineData("512", 512, 512)]
    public void Imgsz_is_height_then_width(string imgsz, int width, int height)
    {
        var metadata = ExportMetadata.Read(new Dictionary<string, string> { ["imgsz"] = imgsz });

        Assert.Equal((width, height), (metadata.ImageWidth, metadata.ImageHeight));
    }

    [Fact]
    public void Recognises_ultralytics_exports_by_their_keys_not_by_the_producer()
    {
        Assert.True(ExportMetadata.Read(UltralyticsLayoutTests.UltralyticsMetadata("{0: 'a'}")).IsUltralytics);
        Assert.True(ExportMetadata.Read(new Dictionary<string, string> { ["stride"] = "32" }).IsUltralytics);
        Assert.False(ExportMetadata.Read(new Dictionary<string, string>()).IsUltralytics);

        var properties = UltralyticsLayoutTests.UltralyticsMetadata("{0: 'a'}");
        properties["end2end"] = "True";
        var full = ExportMetadata.Read(properties);
        Assert.Equal((32, "detect", true), (full.Stride, full.Task, full.EndToEnd));
    }

    [Fact]
    public void Metadata_names_win_over_a_names_file_beside_the_model()
    {
        using var folder = new TempFolder();
        var path = folder.Write("yolox_like.onnx", TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 63, 7], new float[63 * 7],
            new Dictionary<string, string> { ["names"] = "{0: 'from metadata', 1: 'too'}" }));
        folder.Write("yolox_like.names", "from file\nalso\n");

        using var detector = Detector.Open(path);

        Assert.Equal(["from metadata", "too"], detector.Model.ClassNames);
    }

    [Fact]
    public void Metadata_names_of_the_wrong_count_are_refused()
    {
        using var folder = new TempFolder();
        var path = folder.Write("three.onnx", TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 63, 7], new float[63 * 7],
            new Dictionary<string, string> { ["names"] = "{0: 'a', 1: 'b', 2: 'c'}" }));

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("metadata 'names'", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 names", error.Message, StringComparison.Ordinal);
        Assert.Contains("2 classes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_metadata_names_are_refused_unless_a_manifest_names_the_classes()
    {
        using var folder = new TempFolder();
        var bytes = TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 63, 7], new float[63 * 7],
            new Dictionary<string, string> { ["stride"] = "32", ["names"] = "{0: 'a', 1: 'b" });
        var path = folder.Write("broken.onnx", bytes);

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));
        using var detector = Detector.Open(path, manifest: TestManifests.For(bytes, "broken.onnx") with { ClassNames = ["x", "y"] });

        Assert.Contains("metadata 'names'", error.Message, StringComparison.Ordinal);
        Assert.Contains("no closing", error.Message, StringComparison.Ordinal);
        Assert.Equal(["x", "y"], detector.Model.ClassNames);
    }

    [Fact]
    public void Dynamic_export_takes_its_size_from_imgsz_height_first()
    {
        // Input [1,3,height,width] open; imgsz [32, 64] is 32 high, 64 wide: 8x4 + 4x2 + 2x1 = 42 cells.
        var output = UltralyticsLayoutTests.ChannelMajor(42, channels: 5, (3, [32, 16, 8, 8, 0.9f]));
        using var folder = new TempFolder();
        var path = folder.Write("dynamic.onnx", TinyOnnxModel.DynamicConstantOutput("output0", [1, 5, 42], [null, 5, null], output,
            UltralyticsLayoutTests.UltralyticsMetadata("{0: 'only'}", imageSize: "[32, 64]")));

        using var detector = Detector.Open(path);
        using var frame = new Mat(32, 64, MatType.CV_8UC3, Scalar.All(0));
        var detection = Assert.Single(detector.Detect(frame));

        Assert.Equal(("yolov8", 64, 32), (detector.Model.Layout, detector.Model.InputWidth, detector.Model.InputHeight));
        Assert.Equal(new Detection(0, 0.9f, 28, 12, 36, 20), detection);
    }

    [Fact]
    public void Dynamic_export_with_open_prediction_count_is_yolov5_when_ultralytics()
    {
        var rows = new float[63 * 7];
        new float[] { 16, 16, 8, 8, 1f, 0f, 0.8f }.CopyTo(rows, 0);
        using var folder = new TempFolder();
        var path = folder.Write("dynamic_v5.onnx", TinyOnnxModel.DynamicConstantOutput("output0", [1, 63, 7], [null, null, 7], rows,
            new Dictionary<string, string> { ["stride"] = "32", ["imgsz"] = "[32, 32]", ["names"] = "{0: 'a', 1: 'b'}" }));

        using var detector = Detector.Open(path);
        using var frame = new Mat(32, 32, MatType.CV_8UC3, Scalar.All(0));

        Assert.Equal("yolov5", detector.Model.Layout);
        Assert.Equal(new Detection(1, 0.8f, 12, 12, 20, 20), Assert.Single(detector.Detect(frame)));
    }

    [Fact]
    public void Manifest_input_wins_over_imgsz_for_a_dynamic_export()
    {
        // The same open-N output without Ultralytics metadata is YOLOX-shaped: 21 cells at the manifest's 32x32.
        using var folder = new TempFolder();
        var bytes = TinyOnnxModel.DynamicConstantOutput("output", [1, 21, 7], [null, null, 7], new float[21 * 7],
            new Dictionary<string, string> { ["imgsz"] = "[640, 640]" });
        var path = folder.Write("dynamic_yolox.onnx", bytes);

        using var detector = Detector.Open(path, manifest: TestManifests.For(bytes, "dynamic_yolox.onnx") with { Input = new ManifestInput { Width = 32, Height = 32 } });

        Assert.Equal(("yolox", 32, 32), (detector.Model.Layout, detector.Model.InputWidth, detector.Model.InputHeight));
    }

    [Fact]
    public void Dynamic_export_without_a_size_says_where_to_give_one()
    {
        using var folder = new TempFolder();
        var path = folder.Write("sizeless.onnx", TinyOnnxModel.DynamicConstantOutput("output0", [1, 5, 42], [null, 5, null], new float[5 * 42]));

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("fixed H and W", error.Message, StringComparison.Ordinal);
        Assert.Contains("imgsz is absent", error.Message, StringComparison.Ordinal);
        Assert.Contains("manifest's input", error.Message, StringComparison.Ordinal);
    }
}
