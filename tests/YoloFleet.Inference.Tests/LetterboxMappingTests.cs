using Microsoft.ML.OnnxRuntime;
using YoloFleet.Inference.Preprocessing;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class LetterboxMappingTests
{
    [Fact]
    public void Top_left_letterbox_of_a_landscape_image_divides_by_the_ratio()
    {
        var transform = ImageTransform.Fit(PreprocessSpec.Yolox, 640, 480, 416, 416);

        Assert.Equal(0.65f, transform.ScaleX, 5);
        Assert.Equal(transform.ScaleX, transform.ScaleY);
        Assert.Equal((416, 312), (transform.ResizedWidth, transform.ResizedHeight));
        Assert.Equal((0f, 0f), (transform.OffsetX, transform.OffsetY));

        var mapped = transform.ToOriginal(new Detection(3, 0.5f, 65, 65, 130, 130));

        AssertBox(mapped, 100, 100, 200, 200);
        Assert.Equal((3, 0.5f), (mapped.ClassId, mapped.Score));
    }

    [Fact]
    public void Top_left_letterbox_of_a_portrait_image_pads_the_right()
    {
        var transform = ImageTransform.Fit(PreprocessSpec.Yolox, 480, 640, 416, 416);

        Assert.Equal((312, 416), (transform.ResizedWidth, transform.ResizedHeight));
        AssertBox(transform.ToOriginal(new Detection(0, 1f, 0, 208, 312, 416)), 0, 320, 480, 640);
    }

    [Fact]
    public void Centred_letterbox_subtracts_the_padding_first()
    {
        var centred = PreprocessSpec.Yolox with { PadPlacement = PadPlacement.Center };
        var transform = ImageTransform.Fit(centred, 640, 480, 640, 640);

        Assert.Equal((0f, 80f), (transform.OffsetX, transform.OffsetY));
        AssertBox(transform.ToOriginal(new Detection(0, 1f, 0, 80, 320, 560)), 0, 0, 320, 480);
    }

    [Fact]
    public void Stretch_scales_each_axis_on_its_own()
    {
        var transform = ImageTransform.Fit(PreprocessSpec.PicoDet, 640, 480, 320, 320);

        AssertBox(transform.ToOriginal(new Detection(0, 1f, 160, 160, 320, 320)), 320, 240, 640, 480);
    }

    [Fact]
    public void Boxes_reaching_into_the_padding_are_clamped_to_the_image()
    {
        var transform = ImageTransform.Fit(PreprocessSpec.Yolox, 640, 480, 416, 416);

        AssertBox(transform.ToOriginal(new Detection(0, 1f, -20, 300, 500, 400)), 0, 300 / 0.65f, 640, 480);
    }

    [Fact]
    public void Detector_maps_a_crafted_yolox_output_back_to_a_wide_frame()
    {
        // A model whose output is a constant [1, 21, 7] YOLOX tensor for a 32x32 input (21 = 4x4 + 2x2 + 1x1 cells,
        // 2 classes), fed a 64x32 frame: ratio 0.5, the frame fills the top half of the input, the bottom half is padding.
        const int rowLength = 7;
        var rows = new float[21 * rowLength];
        void Row(int index, params float[] values) => values.CopyTo(rows, index * rowLength);

        // Stride 8, cell (1, 0): centre (12, 4), 8 x 4 -> input box (8, 2)-(16, 6); score 0.9 * 0.8 for class 1.
        Row(1, 0.5f, 0.5f, 0f, MathF.Log(0.5f), 0.9f, 0.1f, 0.8f);
        // Stride 8, cell (1, 3): centre (12, 28) lies in the padding; it clamps to nothing and must not be reported.
        Row(13, 0.5f, 0.5f, 0f, MathF.Log(0.5f), 0.9f, 0.9f, 0f);
        // Stride 32, cell (0, 0): centre (16, 16), 64 x 8 -> input box (-16, 12)-(48, 20), wider than the input.
        Row(20, 0.5f, 0.5f, MathF.Log(2f), MathF.Log(0.25f), 0.5f, 0.6f, 0.1f);
        // Below the confidence threshold: objectness 0.2.
        Row(5, 0.5f, 0.5f, 0f, 0f, 0.2f, 1f, 1f);

        using var folder = new TempFolder();
        var modelPath = folder.Write("crafted_yolox.onnx", TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 21, rowLength], rows));
        using var detector = Detector.Open(modelPath);
        using var frame = new OpenCvSharp.Mat(32, 64, OpenCvSharp.MatType.CV_8UC3, OpenCvSharp.Scalar.All(0));

        var detections = detector.Detect(frame);

        Assert.Equal("yolox", detector.Model.Layout);
        Assert.Equal(["class0", "class1"], detector.Model.ClassNames);
        Assert.StartsWith("crafted_yolox@", detector.Model.Version, StringComparison.Ordinal);
        Assert.Equal(2, detections.Length);
        Assert.Equal((1, 0.72f), (detections[0].ClassId, MathF.Round(detections[0].Score, 5)));
        AssertBox(detections[0], 16, 4, 32, 12);
        Assert.Equal((0, 0.3f), (detections[1].ClassId, MathF.Round(detections[1].Score, 5)));
        AssertBox(detections[1], 0, 24, 64, 32);
    }

    [Fact]
    public void Onnx_runtime_accepts_the_crafted_models()
    {
        // Guards the hand-written protobuf the other tests rely on: if this fails, fix TinyOnnxModel, not the detector.
        using var session = new InferenceSession(TinyOnnxModel.ConstantOutput(8, 8, "out", [1, 2, 3], [1, 2, 3, 4, 5, 6]));
        Assert.Equal([1, 2, 3], session.OutputMetadata["out"].Dimensions);
    }

    private static void AssertBox(Detection box, float x1, float y1, float x2, float y2)
    {
        Assert.Equal(x1, box.X1, 3);
        Assert.Equal(y1, box.Y1, 3);
        Assert.Equal(x2, box.X2, 3);
        Assert.Equal(y2, box.Y2, 3);
    }
}
