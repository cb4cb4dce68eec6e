using YoloFleet.Inference.Layouts;

namespace YoloFleet.Inference.Tests;

public sealed class LayoutRecognitionTests
{
    private static TensorSignature Output(string name, params int[] dimensions) => new(name, dimensions);

    private static ModelSignature PicoDet416() => new(416, 416,
    [
        Output("scale_0", 1, 2704, 80), Output("scale_1", 1, 676, 80), Output("scale_2", 1, 169, 80), Output("scale_3", 1, 49, 80),
        Output("scale_4", 1, 2704, 32), Output("scale_5", 1, 676, 32), Output("scale_6", 1, 169, 32), Output("scale_7", 1, 49, 32),
    ]);

    [Theory]
    [InlineData(416, 416, 3549, 85, 80)]
    [InlineData(640, 640, 8400, 85, 80)]
    [InlineData(640, 384, 5040, 7, 2)]
    [InlineData(1280, 1280, 34000, 85, 80)]   // P6: strides 8..64
    public void Recognises_yolox_from_cell_count_and_row_length(int width, int height, int cells, int rowLength, int classes)
    {
        var decoder = ModelLayouts.Recognize(new ModelSignature(width, height, [Output("output", 1, cells, rowLength)]));

        var yolox = Assert.IsType<YoloxDecoder>(decoder);
        Assert.Equal(classes, yolox.ClassCount);
        Assert.Equal("yolox", yolox.Layout);
    }

    [Fact]
    public void Rejects_outputs_that_fit_no_layout()
    {
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(320, 320, [Output("output", 1, 3549, 85)])));   // cells are for 416
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(640, 640, [Output("output0", 1, 84, 8000)]))); // not a v8 cell count
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(416, 416, [Output("same", 1, 3, 416, 416)])));
        Assert.Null(ModelLayouts.Recognize(new ModelSignature(416, 416, [.. PicoDet416().Outputs.Take(7)])));
    }

    [Fact]
    public void Recognises_picodet_and_pairs_scores_with_boxes_by_level()
    {
        var decoder = Assert.IsType<PicoDetGflDecoder>(ModelLayouts.Recognize(PicoDet416()));

        Assert.Equal(80, decoder.ClassCount);
        Assert.Equal(["scale_0", "scale_4", "scale_1", "scale_5", "scale_2", "scale_6", "scale_3", "scale_7"], decoder.Outputs.Select(output => output.Name));
    }

    [Fact]
    public void Yolox_decodes_grid_offsets_per_level_and_skips_low_scores()
    {
        // 64x64 input: 8x8 + 4x4 + 2x2 = 84 cells; 1 class.
        var decoder = Assert.IsType<YoloxDecoder>(ModelLayouts.Recognize(new ModelSignature(64, 64, [Output("output", 1, 84, 6)])));
        var rows = new float[84 * 6];
        // Stride 16 level starts at row 64; its cell (2, 1) is row 64 + 1 * 4 + 2 = 70.
        new float[] { 0.25f, 0.75f, MathF.Log(2f), 0f, 0.8f, 0.5f }.CopyTo(rows, 70 * 6);
        // Objectness 0.9 but class 0.2: score 0.18, below threshold.
        new float[] { 0f, 0f, 0f, 0f, 0.9f, 0.2f }.CopyTo(rows, 3 * 6);
        var candidates = new List<Detection>();

        decoder.Decode([rows], 0.25f, candidates);

        var box = Assert.Single(candidates);
        Assert.Equal(0.4f, box.Score, 5);
        // centre ((0.25 + 2) * 16, (0.75 + 1) * 16) = (36, 28); size (2 * 16, 1 * 16) = (32, 16).
        Assert.Equal((20f, 20f, 52f, 36f), (box.X1, box.Y1, box.X2, box.Y2));
    }

    [Fact]
    public void Picodet_decodes_distances_as_expected_bins_from_the_cell_centre()
    {
        // 32x32 input, strides 8 and 16 -> 16 and 4 cells; 3 classes; 4 sides x 8 bins.
        var decoder = Assert.IsType<PicoDetGflDecoder>(ModelLayouts.Recognize(new ModelSignature(32, 32,
            [Output("s0", 1, 16, 3), Output("s1", 1, 4, 3), Output("b0", 1, 16, 32), Output("b1", 1, 4, 32)])));
        var scores8 = new float[16 * 3];
        var scores16 = new float[4 * 3];
        var boxes8 = new float[16 * 32];
        var boxes16 = new float[4 * 32];
        // Stride 16, cell (1, 0): class 2 at 0.7. Equal logits give the mean bin, 3.5, on every side; a large logit on
        // bin 1 of the left side gives 1.
        scores16[1 * 3 + 2] = 0.7f;
        boxes16[1 * 32 + 1] = 50f;

        var candidates = new List<Detection>();
        decoder.Decode([scores8, boxes8, scores16, boxes16], 0.25f, candidates);

        var box = Assert.Single(candidates);
        Assert.Equal((2, 0.7f), (box.ClassId, box.Score));
        // centre ((1 + 0.5) * 16, 0.5 * 16) = (24, 8); left 1 * 16, top/right/bottom 3.5 * 16 = 56.
        Assert.Equal(8f, box.X1, 3);
        Assert.Equal(-48f, box.Y1, 3);
        Assert.Equal(80f, box.X2, 3);
        Assert.Equal(64f, box.Y2, 3);
    }
}
