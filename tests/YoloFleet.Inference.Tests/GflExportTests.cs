using OpenCvSharp;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>
/// GFL heads (PicoDet, NanoDet) as different exporters write them: with or without the batch dimension, levels and
/// tensors in any order, names that say nothing. The layout pairs class scores with box distributions by shape alone.
/// The models are built here (constant outputs), opened by the real <see cref="Detector"/> and run on a frame.
/// </summary>
public sealed class GflExportTests : IDisposable
{
    // 32x32 input, strides 8 and 16: 16 and 4 cells.
    private const int Size = 32;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static TensorSignature Output(string name, params int[] dimensions) => new(name, dimensions);

    [Fact]
    public void Outputs_without_a_batch_dimension_in_any_order_and_with_opaque_names_pair_by_shape()
    {
        // Boxes before scores, the coarse level before the fine one, names that carry no meaning.
        var decoder = Assert.IsType<PicoDetGflDecoder>(ModelLayouts.Recognize(new ModelSignature(Size, Size,
        [
            Output("output_0", 4, 32), Output("output_1", 16, 80), Output("output_2", 16, 32), Output("output_3", 4, 80),
        ])));

        Assert.Equal(80, decoder.ClassCount);
        Assert.Equal(["output_1", "output_2", "output_3", "output_0"], decoder.Outputs.Select(output => output.Name));
    }

    [Fact]
    public void A_mix_of_batched_and_unbatched_outputs_is_one_head()
    {
        var decoder = Assert.IsType<PicoDetGflDecoder>(ModelLayouts.Recognize(new ModelSignature(Size, Size,
            [Output("a", 1, 16, 3), Output("b", 16, 32), Output("c", 4, 3), Output("d", 1, 4, 32)])));

        Assert.Equal(3, decoder.ClassCount);
        Assert.Equal(["a", "b", "c", "d"], decoder.Outputs.Select(output => output.Name));
    }

    [Theory]
    [InlineData(3, 32, null, 3)]     // 3 is no box distribution
    [InlineData(80, 32, null, 80)]   // both could be; 8 bins (reg_max 7) is the GFL default
    [InlineData(20, 32, null, 20)]   // VOC: 20 = 4 x 5 bins, but 32 is the default box width
    [InlineData(20, 64, null, 64)]   // nothing says: the larger width is taken for the classes ...
    [InlineData(20, 64, 20, 20)]     // ... unless the model's names give the class count
    [InlineData(32, 32, null, 32)]   // C = 4 x bins: shapes cannot tell, the export order does
    public void Scores_and_boxes_are_told_apart_by_width_then_by_the_class_names(int first, int second, int? classNames, int classes)
    {
        Assert.Equal(classes, PicoDetGflDecoder.SplitPair(first == second ? [first] : [first, second], classNames)!.Value.ClassCount);
        Assert.Equal(classes, PicoDetGflDecoder.SplitPair(first == second ? [first] : [second, first], classNames)!.Value.ClassCount);
    }

    [Fact]
    public void Shapes_that_cannot_be_a_gfl_head_are_refused()
    {
        // Two levels whose outputs do not come in score/box pairs, widths that are no box distribution, three widths.
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(Size, Size, [Output("a", 16, 32), Output("b", 16, 32), Output("c", 4, 3), Output("d", 4, 32)])));
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(Size, Size, [Output("a", 16, 3), Output("b", 16, 5), Output("c", 4, 3), Output("d", 4, 5)])));
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(Size, Size, [Output("a", 16, 3), Output("b", 16, 32), Output("c", 4, 4), Output("d", 4, 32)])));
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(Size, Size, [Output("a", 2, 16, 3), Output("b", 2, 16, 32)])));
    }

    [Fact]
    public void A_built_model_with_unbatched_shuffled_outputs_detects_the_box_it_encodes()
    {
        // 3 classes, 8 bins. Stride 8, cell (1, 1), centre (12, 12): class 1 at 0.9, every side's distance 1 bin = 8 px.
        var model = _folder.Write("nanodet_like.onnx", TinyOnnxModel.ConstantOutputs(Size, Size,
        [
            ("dis_16", [4, 32], new float[4 * 32]),
            ("cls_8", [16, 3], Scores(16, 3, cell: 5, classId: 1, score: 0.9f)),
            ("cls_16", [4, 3], new float[4 * 3]),
            ("dis_8", [16, 32], Distances(16, 8, cell: 5, bin: 1)),
        ]));

        using var detector = Detector.Open(model);
        using var frame = new Mat(Size, Size, MatType.CV_8UC3, Scalar.All(0));
        var box = Assert.Single(detector.Detect(frame));

        Assert.Equal("picodet-gfl", detector.Model.Layout);
        Assert.Equal((1, 0.9f), (box.ClassId, box.Score));
        Assert.Equal((4f, 4f, 20f, 20f), (MathF.Round(box.X1, 3), MathF.Round(box.Y1, 3), MathF.Round(box.X2, 3), MathF.Round(box.Y2, 3)));
    }

    [Fact]
    public void The_manifest_class_names_settle_widths_that_shapes_alone_would_read_the_wrong_way()
    {
        // 20 classes and 16 bins (width 64): both widths are multiples of 4, neither is the default 32, and the larger
        // would be taken for the classes. The manifest's 20 class names say which is which.
        const int classes = 20;
        const int bins = 16;
        var bytes = TinyOnnxModel.ConstantOutputs(Size, Size,
        [
            ("o0", [1, 16, 4 * bins], Distances(16, bins, cell: 5, bin: 1)),
            ("o1", [1, 16, classes], Scores(16, classes, cell: 5, classId: 7, score: 0.8f)),
            ("o2", [1, 4, 4 * bins], new float[4 * 4 * bins]),
            ("o3", [1, 4, classes], new float[4 * classes]),
        ]);
        var model = _folder.Write("voc_gfl.onnx", bytes);

        var unnamed = Record.Exception(() => Detector.Open(model));
        var manifest = TestManifests.For(bytes, "voc_gfl.onnx") with { ClassNames = [.. Enumerable.Range(0, classes).Select(i => $"class{i}")] };
        using var detector = Detector.Open(model, manifest: manifest);
        using var frame = new Mat(Size, Size, MatType.CV_8UC3, Scalar.All(0));
        var box = Assert.Single(detector.Detect(frame));

        // Read the wrong way round, the model has 64 "classes" and 5 "bins": no valid head, or no detection at (4, 4, 20, 20).
        Assert.True(unnamed is not null || !IsExpectedBox(DetectOnce(model)), "without class names the widths should be ambiguous");
        Assert.Equal(classes, detector.Model.ClassNames.Count);
        Assert.Equal((7, 0.8f), (box.ClassId, box.Score));
        Assert.True(IsExpectedBox(box), $"box {box}");
    }

    private static Detection[] DetectOnce(string model)
    {
        using var detector = Detector.Open(model);
        using var frame = new Mat(Size, Size, MatType.CV_8UC3, Scalar.All(0));
        return detector.Detect(frame);
    }

    private static bool IsExpectedBox(Detection[] boxes) => boxes.Length == 1 && IsExpectedBox(boxes[0]);

    private static bool IsExpectedBox(Detection box) =>
        MathF.Abs(box.X1 - 4f) < 1e-3f && MathF.Abs(box.Y1 - 4f) < 1e-3f && MathF.Abs(box.X2 - 20f) < 1e-3f && MathF.Abs(box.Y2 - 20f) < 1e-3f;

    private static float[] Scores(int cells, int classes, int cell, int classId, float score)
    {
        var values = new float[cells * classes];
        values[(cell * classes) + classId] = score;
        return values;
    }

    /// <summary>Box logits with one dominant bin on every side of <paramref name="cell"/> (all other cells flat).</summary>
    private static float[] Distances(int cells, int bins, int cell, int bin)
    {
        var values = new float[cells * 4 * bins];
        for (var side = 0; side < 4; side++)
        {
            values[(cell * 4 * bins) + (side * bins) + bin] = 60f;
        }

        return values;
    }
}
