namespace YoloFleet.Inference.Scene;

/// <summary>How the bytes of a <see cref="FrameView"/> hold a pixel.</summary>
public enum FramePixelFormat
{
    /// <summary>One byte per pixel, grey.</summary>
    Gray8,

    /// <summary>Three bytes per pixel, blue, green, red (OpenCV's and most cameras' order).</summary>
    Bgr24,
}

/// <summary>
/// A frame as plain bytes: what the motion gate reads. It is a view over memory the caller owns (a camera buffer, a
/// decoded image, an OpenCV Mat's data), so the gate runs with or without OpenCV and copies nothing.
/// </summary>
public readonly ref struct FrameView
{
    /// <exception cref="ArgumentException">The sizes do not fit the buffer.</exception>
    public FrameView(ReadOnlySpan<byte> pixels, int width, int height, int stride, FramePixelFormat format)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var bytesPerPixel = format switch
        {
            FramePixelFormat.Gray8 => 1,
            FramePixelFormat.Bgr24 => 3,
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown pixel format."),
        };
        if (stride < width * bytesPerPixel)
        {
            throw new ArgumentException($"A stride of {stride} bytes cannot hold a row of {width} {format} pixels ({width * bytesPerPixel} bytes).", nameof(stride));
        }

        var needed = (long)stride * (height - 1) + (long)width * bytesPerPixel;
        if (pixels.Length < needed)
        {
            throw new ArgumentException($"A {width}x{height} {format} frame with a stride of {stride} needs {needed} bytes; the buffer has {pixels.Length}.", nameof(pixels));
        }

        Pixels = pixels;
        Width = width;
        Height = height;
        Stride = stride;
        Format = format;
    }

    public ReadOnlySpan<byte> Pixels { get; }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Bytes from the start of one row to the start of the next.</summary>
    public int Stride { get; }

    public FramePixelFormat Format { get; }

    public int BytesPerPixel => Format == FramePixelFormat.Gray8 ? 1 : 3;

    /// <summary>A tightly packed frame (stride = width x bytes per pixel).</summary>
    public static FrameView Packed(ReadOnlySpan<byte> pixels, int width, int height, FramePixelFormat format) =>
        new(pixels, width, height, width * (format == FramePixelFormat.Gray8 ? 1 : 3), format);

    /// <summary>The bytes of row <paramref name="y"/>, without the padding past its last pixel.</summary>
    public ReadOnlySpan<byte> Row(int y) => Pixels.Slice(y * Stride, Width * BytesPerPixel);
}
