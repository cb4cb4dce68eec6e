using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using OpenCvSharp;
using OpenCvSharp.Internal;

namespace YoloFleet.Inference.Preprocessing;

/// <summary>
/// Turns a frame into a model's CHW float input following a <see cref="PreprocessSpec"/>, writing straight into the
/// caller's input buffer. A steady stream of frames costs no managed allocation and no new native buffers, whatever
/// their sizes: the resize goes into the corner of one input-sized scratch image through OpenCV's native API (the
/// managed wrappers allocate per call). Not thread-safe: one per detector.
/// </summary>
internal sealed class FramePreprocessor : IDisposable
{
    private const int PixelsPerBlock = 16;

    private readonly PreprocessSpec _spec;
    private readonly int _inputWidth;
    private readonly int _inputHeight;

    // Input-sized, so every resized frame (never larger than the input) fits in its top-left corner.
    private readonly Mat _resized;
    private readonly Mat _converted = new();

    // Per model channel: which byte of a BGR pixel feeds it, and value = pixel * gain + bias, which folds scale, mean and std.
    private readonly int _source0;
    private readonly int _source1;
    private readonly int _source2;
    private readonly ChannelValues _gain;
    private readonly ChannelValues _bias;

    // Byte shuffles that pull one channel out of 16 BGR pixels (three 16-byte vectors): _gather[channel * 3 + vector].
    private readonly Vector128<byte>[] _gather;

    public FramePreprocessor(PreprocessSpec spec, int inputWidth, int inputHeight)
    {
        _spec = spec;
        _inputWidth = inputWidth;
        _inputHeight = inputHeight;
        _resized = new Mat(inputHeight, inputWidth, MatType.CV_8UC3);
        (_source0, _source1, _source2) = spec.ChannelOrder == ChannelOrder.Bgr ? (0, 1, 2) : (2, 1, 0);
        _gain = new ChannelValues(spec.Scale / spec.Std.Channel0, spec.Scale / spec.Std.Channel1, spec.Scale / spec.Std.Channel2);
        _bias = new ChannelValues(-spec.Mean.Channel0 / spec.Std.Channel0, -spec.Mean.Channel1 / spec.Std.Channel1, -spec.Mean.Channel2 / spec.Std.Channel2);
        _gather = [.. new[] { _source0, _source1, _source2 }.SelectMany(source => Enumerable.Range(0, 3).Select(vector => GatherMask(source, vector)))];
    }

    public int InputLength => 3 * _inputWidth * _inputHeight;

    /// <summary>Writes <paramref name="image"/> (8-bit BGR, grey or BGRA) into <paramref name="chw"/> and says where it went.</summary>
    public unsafe ImageTransform Write(Mat image, Span<float> chw)
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

        byte* pixels;
        long step;
        if (transform.ResizedWidth != bgr.Width || transform.ResizedHeight != bgr.Height)
        {
            ResizeIntoScratch(bgr, transform.ResizedWidth, transform.ResizedHeight);
            pixels = _resized.DataPointer;
            step = _resized.Step();
        }
        else
        {
            pixels = bgr.DataPointer;
            step = bgr.Step();
        }

        WritePlanes(pixels, step, transform, chw);
        GC.KeepAlive(bgr);
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

    /// <summary>
    /// cv::resize into a header over the top-left width x height of <see cref="_resized"/>. The header already has the
    /// destination's size and type, so OpenCV writes in place. Native calls rather than Cv2.Resize: its InputArray and
    /// OutputArray wrappers are finalizable managed objects, two per frame.
    /// </summary>
    private unsafe void ResizeIntoScratch(Mat source, int width, int height)
    {
        NativeMethods.HandleException(NativeMethods.core_Mat_new8(
            height, width, MatType.CV_8UC3, (IntPtr)_resized.DataPointer, (IntPtr)_resized.Step(), out var corner));
        try
        {
            NativeMethods.HandleException(NativeMethods.core_InputArray_new_byMat(source.CvPtr, out var input));
            try
            {
                NativeMethods.HandleException(NativeMethods.core_OutputArray_new_byMat(corner, out var output));
                try
                {
                    NativeMethods.HandleException(NativeMethods.imgproc_resize(
                        input, output, new Size(width, height), 0, 0, (int)InterpolationFlags.Linear));
                }
                finally
                {
                    NativeMethods.HandleException(NativeMethods.core_OutputArray_delete(output));
                }
            }
            finally
            {
                NativeMethods.HandleException(NativeMethods.core_InputArray_delete(input));
            }
        }
        finally
        {
            NativeMethods.HandleException(NativeMethods.core_Mat_delete(corner));
        }

        GC.KeepAlive(source);
        GC.KeepAlive(_resized);
    }

    private unsafe void WritePlanes(byte* pixels, long step, ImageTransform transform, Span<float> chw)
    {
        var planeLength = _inputWidth * _inputHeight;
        var width = transform.ResizedWidth;
        var height = transform.ResizedHeight;
        var left = (int)transform.OffsetX;
        var top = (int)transform.OffsetY;

        fixed (float* planes = chw)
        {
            if (width != _inputWidth || height != _inputHeight)
            {
                // Padding goes in as the pad colour after the same normalisation as real pixels, as the reference
                // implementations pad the uint8 image before normalising it. Only the margins: the image covers the rest.
                float pad = _spec.PadValue;
                FillMargins(planes, pad * _gain.Channel0 + _bias.Channel0, left, top, width, height);
                FillMargins(planes + planeLength, pad * _gain.Channel1 + _bias.Channel1, left, top, width, height);
                FillMargins(planes + 2 * planeLength, pad * _gain.Channel2 + _bias.Channel2, left, top, width, height);
            }

            for (var y = 0; y < height; y++)
            {
                ConvertRow(pixels + y * step, planes + (top + y) * _inputWidth + left, planeLength, width);
            }
        }
    }

    private unsafe void FillMargins(float* plane, float value, int left, int top, int width, int height)
    {
        new Span<float>(plane, top * _inputWidth).Fill(value);
        var belowStart = (top + height) * _inputWidth;
        new Span<float>(plane + belowStart, _inputHeight * _inputWidth - belowStart).Fill(value);
        var right = _inputWidth - left - width;
        for (var y = top; y < top + height; y++)
        {
            var row = plane + y * _inputWidth;
            new Span<float>(row, left).Fill(value);
            new Span<float>(row + left + width, right).Fill(value);
        }
    }

    /// <summary>
    /// One row of interleaved BGR bytes to three float rows, <c>value = byte * gain + bias</c>. Sixteen pixels at a
    /// time: three byte shuffles gather a channel, which is widened to four float vectors; scalar for the tail. This
    /// loop touches every input value of every frame, so it is the one place worth vectorising by hand.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void ConvertRow(byte* source, float* row0, int planeLength, int width)
    {
        var row1 = row0 + planeLength;
        var row2 = row1 + planeLength;
        var x = 0;
        if (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported)
        {
            var gather = _gather;
            var (g00, g01, g02) = (gather[0], gather[1], gather[2]);
            var (g10, g11, g12) = (gather[3], gather[4], gather[5]);
            var (g20, g21, g22) = (gather[6], gather[7], gather[8]);
            var (gain0, gain1, gain2) = (Vector128.Create(_gain.Channel0), Vector128.Create(_gain.Channel1), Vector128.Create(_gain.Channel2));
            var (bias0, bias1, bias2) = (Vector128.Create(_bias.Channel0), Vector128.Create(_bias.Channel1), Vector128.Create(_bias.Channel2));
            for (; x <= width - PixelsPerBlock; x += PixelsPerBlock)
            {
                var pixels = source + 3 * x;
                var a = Vector128.Load(pixels);
                var b = Vector128.Load(pixels + 16);
                var c = Vector128.Load(pixels + 32);
                StoreChannel(Shuffle(a, g00) | Shuffle(b, g01) | Shuffle(c, g02), gain0, bias0, row0 + x);
                StoreChannel(Shuffle(a, g10) | Shuffle(b, g11) | Shuffle(c, g12), gain1, bias1, row1 + x);
                StoreChannel(Shuffle(a, g20) | Shuffle(b, g21) | Shuffle(c, g22), gain2, bias2, row2 + x);
            }
        }

        var (source0, source1, source2) = (_source0, _source1, _source2);
        var (scalarGain0, scalarGain1, scalarGain2) = (_gain.Channel0, _gain.Channel1, _gain.Channel2);
        var (scalarBias0, scalarBias1, scalarBias2) = (_bias.Channel0, _bias.Channel1, _bias.Channel2);
        for (var pixel = source + 3 * x; x < width; x++, pixel += 3)
        {
            row0[x] = pixel[source0] * scalarGain0 + scalarBias0;
            row1[x] = pixel[source1] * scalarGain1 + scalarBias1;
            row2[x] = pixel[source2] * scalarGain2 + scalarBias2;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreChannel(Vector128<byte> values, Vector128<float> gain, Vector128<float> bias, float* destination)
    {
        var low = Vector128.WidenLower(values);
        var high = Vector128.WidenUpper(values);
        Store(Vector128.WidenLower(low), gain, bias, destination);
        Store(Vector128.WidenUpper(low), gain, bias, destination + 4);
        Store(Vector128.WidenLower(high), gain, bias, destination + 8);
        Store(Vector128.WidenUpper(high), gain, bias, destination + 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(Vector128<uint> values, Vector128<float> gain, Vector128<float> bias, float* destination) =>
        (Vector128.ConvertToSingle(values.AsInt32()) * gain + bias).Store(destination);

    /// <summary>A byte shuffle; mask lanes of 0x80 give 0 on both instruction sets (pshufb: high bit; tbl: index ≥ 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Shuffle(Vector128<byte> vector, Vector128<byte> mask) =>
        Ssse3.IsSupported ? Ssse3.Shuffle(vector, mask) : AdvSimd.Arm64.VectorTableLookup(vector, mask);

    /// <summary>Lane i takes byte 3i + <paramref name="channel"/> of 48 interleaved bytes if it lies in vector <paramref name="vector"/>.</summary>
    private static Vector128<byte> GatherMask(int channel, int vector)
    {
        Span<byte> lanes = stackalloc byte[16];
        for (var i = 0; i < 16; i++)
        {
            var position = 3 * i + channel - 16 * vector;
            lanes[i] = position is >= 0 and < 16 ? (byte)position : (byte)0x80;
        }

        return Vector128.Create((ReadOnlySpan<byte>)lanes);
    }

    public void Dispose()
    {
        _resized.Dispose();
        _converted.Dispose();
    }
}
