using OpenCvSharp;

namespace YoloFleet.Inference.Preprocessing;

/// <summary>
/// Turns a frame into a model's CHW float input following a <see cref="PreprocessSpec"/>. It keeps its scratch Mats
/// between frames, so a stream of same-sized frames costs no new native buffers; it writes straight into the caller's
/// input buffer. Not thread-safe: one per detector.
/// </summary>
internal sealed class FramePreprocessor : IDisposable
{
    private readonly PreprocessSpec _spec;
    private readonly int _inputWidth;
    private readonly int _inputHeight;
    private readonly Mat _resized = new();
    private readonly Mat _converted = new();

    // Per model channel: which byte of a BGR pixel feeds it, and value = pixel * gain + bias, which folds scale, mean and std.
    private readonly int _source0;
    private readonly int _source1;
    private readonly int _source2;
    private readonly ChannelValues _gain;
    private readonly ChannelValues _bias;

    public FramePreprocessor(PreprocessSpec spec, int inputWidth, int inputHeight)
    {
        _spec = spec;
        _inputWidth = inputWidth;
        _inputHeight = inputHeight;
        (_source0, _source1, _source2) = spec.ChannelOrder == ChannelOrder.Bgr ? (0, 1, 2) : (2, 1, 0);
        _gain = new ChannelValues(spec.Scale / spec.Std.Channel0, spec.Scale / spec.Std.Channel1, spec.Scale / spec.Std.Channel2);
        _bias = new ChannelValues(-spec.Mean.Channel0 / spec.Std.Channel0, -spec.Mean.Channel1 / spec.Std.Channel1, -spec.Mean.Channel2 / spec.Std.Channel2);
    }

    public int InputLength => 3 * _inputWidth * _inputHeight;

    /// <summary>Writes <paramref name="image"/> (8-bit BGR, grey or BGRA) into <paramref name="chw"/> and says where it went.</summary>
    public ImageTransform Write(Mat image, Span<float> chw)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (chw.Length != InputLength)
        {
            throw new ArgumentException($"The input buffer holds {chw.Length} floats; this model needs {InputLength}.", nameof(chw));
        }

        if (image.Empty())
        {
            throw new ArgumentException("The image is empty.", nameof(image));
        }

        var bgr = AsBgr(image);
        var transform = ImageTransform.Fit(_spec, bgr.Width, bgr.Height, _inputWidth, _inputHeight);

        var placed = bgr;
        if (transform.ResizedWidth != bgr.Width || transform.ResizedHeight != bgr.Height)
        {
            // Create inside Resize reuses _resized's buffer whenever the frame size repeats, as it does for a camera.
            Cv2.Resize(bgr, _resized, new Size(transform.ResizedWidth, transform.ResizedHeight), 0, 0, InterpolationFlags.Linear);
            placed = _resized;
        }

        WritePlanes(placed, transform, chw);
        return transform;
    }

    private Mat AsBgr(Mat image)
    {
        var type = image.Type();
        if (type == MatType.CV_8UC3)
        {
            return image;
        }

        if (type == MatType.CV_8UC1)
        {
            Cv2.CvtColor(image, _converted, ColorConversionCodes.GRAY2BGR);
            return _converted;
        }

        if (type == MatType.CV_8UC4)
        {
            Cv2.CvtColor(image, _converted, ColorConversionCodes.BGRA2BGR);
            return _converted;
        }

        throw new ArgumentException($"Expected an 8-bit BGR image (CV_8UC3, or CV_8UC1/CV_8UC4 to convert); got {type}.", nameof(image));
    }

    private unsafe void WritePlanes(Mat placed, ImageTransform transform, Span<float> chw)
    {
        var planeLength = _inputWidth * _inputHeight;
        var plane0 = chw[..planeLength];
        var plane1 = chw.Slice(planeLength, planeLength);
        var plane2 = chw.Slice(2 * planeLength, planeLength);

        var width = transform.ResizedWidth;
        var height = transform.ResizedHeight;
        var left = (int)transform.OffsetX;
        var top = (int)transform.OffsetY;

        if (width != _inputWidth || height != _inputHeight)
        {
            // Padding goes in as the pad colour after the same normalisation as real pixels, as the reference
            // implementations pad the uint8 image before normalising it. Filling every plane first is simpler than
            // filling only the margins, and it is a vectorised fill of a few hundred KB.
            float pad = _spec.PadValue;
            plane0.Fill(pad * _gain.Channel0 + _bias.Channel0);
            plane1.Fill(pad * _gain.Channel1 + _bias.Channel1);
            plane2.Fill(pad * _gain.Channel2 + _bias.Channel2);
        }

        // Raw pointers: this loop touches every input value of every frame, and bounds-checked slices per pixel cost
        // several times more (most visibly in Debug builds, which the tests use).
        var (gain0, gain1, gain2) = (_gain.Channel0, _gain.Channel1, _gain.Channel2);
        var (bias0, bias1, bias2) = (_bias.Channel0, _bias.Channel1, _bias.Channel2);
        var (source0, source1, source2) = (_source0, _source1, _source2);
        fixed (float* planes = chw)
        {
            for (var y = 0; y < height; y++)
            {
                var pixel = (byte*)placed.Ptr(y);
                var row0 = planes + (top + y) * _inputWidth + left;
                var row1 = row0 + planeLength;
                var row2 = row1 + planeLength;
                for (var x = 0; x < width; x++, pixel += 3)
                {
                    row0[x] = pixel[source0] * gain0 + bias0;
                    row1[x] = pixel[source1] * gain1 + bias1;
                    row2[x] = pixel[source2] * gain2 + bias2;
                }
            }
        }
    }

    public void Dispose()
    {
        _resized.Dispose();
        _converted.Dispose();
    }
}
