using OpenCvSharp;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Tests;

public sealed class FramePreprocessorTests
{
    private static float At(float[] chw, int channel, int x, int y, int width, int height) => chw[channel * width * height + y * width + x];

    [Fact]
    public void Yolox_writes_raw_bgr_values_at_the_top_left_and_pads_with_114()
    {
        // 4x2 frame into a 4x4 input: ratio 1, no resize, rows 2 and 3 are padding.
        using var frame = new Mat(2, 4, MatType.CV_8UC3, new Scalar(10, 20, 30));
        frame.Set(1, 3, new Vec3b(1, 2, 3));
        using var preprocessor = new FramePreprocessor(PreprocessSpec.Yolox, 4, 4);
        var chw = new float[preprocessor.InputLength];

        var transform = preprocessor.Write(frame, chw);

        Assert.Equal((4, 2), (transform.ResizedWidth, transform.ResizedHeight));
        Assert.Equal((10f, 20f, 30f), (At(chw, 0, 0, 0, 4, 4), At(chw, 1, 0, 0, 4, 4), At(chw, 2, 0, 0, 4, 4)));
        Assert.Equal((1f, 2f, 3f), (At(chw, 0, 3, 1, 4, 4), At(chw, 1, 3, 1, 4, 4), At(chw, 2, 3, 1, 4, 4)));
        for (var channel = 0; channel < 3; channel++)
        {
            for (var x = 0; x < 4; x++)
            {
                Assert.Equal(114f, At(chw, channel, x, 2, 4, 4));
                Assert.Equal(114f, At(chw, channel, x, 3, 4, 4));
            }
        }
    }

    [Fact]
    public void Picodet_writes_rgb_normalised_by_mean_and_std_and_stretches()
    {
        // 8x2 frame stretched into 4x4: every input pixel is the frame's single colour, normalised, red first.
        using var frame = new Mat(2, 8, MatType.CV_8UC3, new Scalar(100, 150, 200));   // B, G, R
        using var preprocessor = new FramePreprocessor(PreprocessSpec.PicoDet, 4, 4);
        var chw = new float[preprocessor.InputLength];

        preprocessor.Write(frame, chw);

        Assert.All(chw.AsSpan(0, 16).ToArray(), value => Assert.Equal((200 - 123.675f) / 58.395f, value, 4));
        Assert.All(chw.AsSpan(16, 16).ToArray(), value => Assert.Equal((150 - 116.28f) / 57.12f, value, 4));
        Assert.All(chw.AsSpan(32, 16).ToArray(), value => Assert.Equal((100 - 103.53f) / 57.375f, value, 4));
    }

    [Fact]
    public void Resizes_down_and_overwrites_what_the_previous_frame_left()
    {
        using var preprocessor = new FramePreprocessor(PreprocessSpec.Yolox, 4, 4);
        var chw = new float[preprocessor.InputLength];
        using var tall = new Mat(8, 8, MatType.CV_8UC3, Scalar.All(7));
        using var wide = new Mat(4, 8, MatType.CV_8UC3, Scalar.All(50));
        preprocessor.Write(tall, chw);

        var transform = preprocessor.Write(wide, chw);

        Assert.Equal((4, 2), (transform.ResizedWidth, transform.ResizedHeight));
        Assert.Equal(0.5f, transform.ScaleX);
        Assert.All(chw.AsSpan(0, 8).ToArray(), value => Assert.Equal(50f, value));
        Assert.All(chw.AsSpan(8, 8).ToArray(), value => Assert.Equal(114f, value));
    }

    [Fact]
    public void Centred_padding_is_split_on_both_sides()
    {
        var centred = PreprocessSpec.Yolox with { PadPlacement = PadPlacement.Center, PadValue = 0 };
        using var frame = new Mat(2, 4, MatType.CV_8UC3, Scalar.All(9));
        using var preprocessor = new FramePreprocessor(centred, 4, 4);
        var chw = new float[preprocessor.InputLength];

        var transform = preprocessor.Write(frame, chw);

        Assert.Equal(1f, transform.OffsetY);
        Assert.Equal([0f, 9f, 9f, 0f], Enumerable.Range(0, 4).Select(y => At(chw, 1, 2, y, 4, 4)));
    }

    [Fact]
    public void Rejects_a_buffer_of_the_wrong_size()
    {
        using var frame = new Mat(2, 4, MatType.CV_8UC3, Scalar.All(0));
        using var preprocessor = new FramePreprocessor(PreprocessSpec.Yolox, 4, 4);

        Assert.Throws<ArgumentException>(() => preprocessor.Write(frame, new float[47]));
    }
}
