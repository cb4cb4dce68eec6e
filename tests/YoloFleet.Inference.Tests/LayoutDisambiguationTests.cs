using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>The rule in <see cref="ModelLayouts"/>: shapes decide; metadata breaks only the ties shapes leave.</summary>
public sealed class LayoutDisambiguationTests
{
    private static readonly ExportMetadata Ultralytics = ExportMetadata.Read(new Dictionary<string, string> { ["stride"] = "32", ["names"] = "{0: 'a'}" });
    private static readonly ExportMetadata EndToEnd = ExportMetadata.Read(new Dictionary<string, string> { ["names"] = "{0: 'a'}", ["end2end"] = "True" });

    [Theory]
    // YOLOX and YOLOv5 share [1, N, 85]; N = cells (3549 at 416, 8400 at 640) or 3 x cells (10647, 25200) decides,
    // with or without metadata.
    [InlineData(416, 416, 3549, 85, false, "yolox")]
    [InlineData(416, 416, 3549, 85, true, "yolox")]
    [InlineData(416, 416, 10647, 85, false, "yolov5")]
    [InlineData(416, 416, 10647, 85, true, "yolov5")]
    [InlineData(640, 640, 8400, 85, false, "yolox")]
    [InlineData(640, 640, 25200, 85, true, "yolov5")]
    [InlineData(640, 384, 15120, 85, true, "yolov5")]   // rectangular: 3 x (80x48 + 40x24 + 20x12)
    [InlineData(1280, 1280, 102000, 85, false, "yolov5")] // P6: 3 x 34000
    [InlineData(640, 640, 84, 8400, false, "yolov8")]    // transposed
    [InlineData(640, 640, 84, 8400, true, "yolov8")]
    [InlineData(640, 640, 300, 6, false, "yolov10")]     // 300 is no cell count
    public void Shapes_decide_when_only_one_layout_fits(int width, int height, int rows, int columns, bool ultralyticsMetadata, string expected)
    {
        var signature = new ModelSignature(width, height, [new TensorSignature("output0", [1, rows, columns])])
        {
            Metadata = ultralyticsMetadata ? Ultralytics : ExportMetadata.None,
            ClassCountHint = 80,
        };

        Assert.Equal(expected, ModelLayouts.Recognize(signature)?.Layout);
    }

    [Fact]
    public void Cell_counts_of_yolox_and_yolov5_never_coincide_across_common_sizes()
    {
        // The rule rests on this: for one input size, no YOLOX count (P5 or P6) equals a YOLOv5 count (P5 or P6).
        for (var height = 32; height <= 1536; height += 32)
        {
            for (var width = 32; width <= 1536; width += 32)
            {
                var p5 = new[] { 8, 16, 32 }.Sum(stride => ModelLayouts.CellCount(stride, width, height));
                var p6 = p5 + ModelLayouts.CellCount(64, width, height);
                Assert.DoesNotContain(p5, new[] { 3 * p5, 3 * p6 });
                Assert.DoesNotContain(p6, new[] { 3 * p5, 3 * p6 });
            }
        }
    }

    [Fact]
    public void Open_prediction_count_is_yolov5_with_ultralytics_metadata_and_yolox_without()
    {
        var open = new ModelSignature(640, 640, [new TensorSignature("output0", [1, -1, 85])]);

        var yolox = ModelLayouts.Recognize(open);
        var yolov5 = ModelLayouts.Recognize(open with { Metadata = Ultralytics });

        Assert.Equal("yolox", yolox?.Layout);
        Assert.Equal([1, 8400, 85], yolox!.Outputs[0].Dimensions);
        Assert.Equal("yolov5", yolov5?.Layout);
        Assert.Equal([1, 25200, 85], yolov5!.Outputs[0].Dimensions);
    }

    [Fact]
    public void Tiny_input_where_yolox_and_yolov8_both_fit_follows_the_metadata()
    {
        // 64x64 has 84 cells, so [1, 84, 84] is YOLOX with 79 classes or YOLOv8 with 80.
        var square = new ModelSignature(64, 64, [new TensorSignature("output0", [1, 84, 84])]);

        Assert.IsType<YoloxDecoder>(ModelLayouts.Recognize(square));
        var yolov8 = Assert.IsType<YoloV8Decoder>(ModelLayouts.Recognize(square with { Metadata = Ultralytics }));
        Assert.Equal(80, yolov8.ClassCount);
    }

    [Fact]
    public void End2end_metadata_makes_a_cell_count_of_six_wide_rows_yolov10()
    {
        // [1, 84, 6] at 64x64 is a 1-class YOLOX, unless the exporter says the head is end-to-end.
        var signature = new ModelSignature(64, 64, [new TensorSignature("output0", [1, 84, 6])]) { ClassCountHint = 1 };

        Assert.Equal("yolox", ModelLayouts.Recognize(signature)?.Layout);
        Assert.Equal("yolov10", ModelLayouts.Recognize(signature with { Metadata = EndToEnd })?.Layout);
    }

    [Fact]
    public void Stride_metadata_narrows_the_grid_to_p5_or_p6()
    {
        // 3 x 34000: a P6 YOLOv5 at 1280. Its own stride metadata (64) keeps it; a stride of 32 rules it out.
        var p6 = new ModelSignature(1280, 1280, [new TensorSignature("output0", [1, 102000, 85])]);
        var stride = (string value) => ExportMetadata.Read(new Dictionary<string, string> { ["stride"] = value });

        Assert.Equal("yolov5", ModelLayouts.Recognize(p6 with { Metadata = stride("64") })?.Layout);
        Assert.Null(ModelLayouts.Recognize(p6 with { Metadata = stride("32") }));
    }

    [Theory]
    [InlineData(21, false, "yolox")]    // 32x32: 4x4 + 2x2 + 1x1 = 21 cells
    [InlineData(63, false, "yolov5")]   // 3 x 21, no metadata: the shape alone says v5
    [InlineData(63, true, "yolov5")]
    [InlineData(21, true, "yolox")]     // metadata cannot make a one-per-cell output v5
    public void Detector_tells_yolox_from_yolov5_in_real_models(int rows, bool ultralyticsMetadata, string expected)
    {
        using var folder = new TempFolder();
        var metadata = ultralyticsMetadata ? new Dictionary<string, string> { ["stride"] = "32", ["names"] = "{0: 'a', 1: 'b'}" } : null;
        var path = folder.Write("model.onnx", TinyOnnxModel.ConstantOutput(32, 32, "output", [1, rows, 7], new float[rows * 7], metadata));

        using var detector = Detector.Open(path);

        Assert.Equal(expected, detector.Model.Layout);
        Assert.Equal(2, detector.Model.ClassNames.Count);
    }
}
