namespace YoloFleet.Inference.Scene;

/// <summary>
/// A rectangle of whole pixels in a frame: columns X to X + Width - 1, rows Y to Y + Height - 1. Regions and tiles are
/// cropped at these, so they are integers: a crop then is a view of the frame's own pixels, and mapping a box back is
/// adding the corner.
/// </summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;

    public int Bottom => Y + Height;

    public long Area => (long)Math.Max(0, Width) * Math.Max(0, Height);

    public bool IsEmpty => Width <= 0 || Height <= 0;

    public static PixelRect FromEdges(int left, int top, int right, int bottom) => new(left, top, right - left, bottom - top);

    /// <summary>The whole-pixel rectangle that covers a box given in (fractional) pixels.</summary>
    public static PixelRect Covering(float x1, float y1, float x2, float y2) =>
        FromEdges((int)MathF.Floor(x1), (int)MathF.Floor(y1), (int)MathF.Ceiling(x2), (int)MathF.Ceiling(y2));

    public PixelRect Union(PixelRect other) =>
        FromEdges(Math.Min(X, other.X), Math.Min(Y, other.Y), Math.Max(Right, other.Right), Math.Max(Bottom, other.Bottom));

    /// <summary>The overlap; empty (zero width or height) when there is none.</summary>
    public PixelRect Intersect(PixelRect other)
    {
        var left = Math.Max(X, other.X);
        var top = Math.Max(Y, other.Y);
        var right = Math.Min(Right, other.Right);
        var bottom = Math.Min(Bottom, other.Bottom);
        return right <= left || bottom <= top ? new PixelRect(left, top, 0, 0) : FromEdges(left, top, right, bottom);
    }

    public bool Overlaps(PixelRect other) => X < other.Right && other.X < Right && Y < other.Bottom && other.Y < Bottom;

    public bool Contains(PixelRect other) => other.X >= X && other.Y >= Y && other.Right <= Right && other.Bottom <= Bottom;

    public bool Contains(float x, float y) => x >= X && y >= Y && x <= Right && y <= Bottom;

    /// <summary>Grown by the given pixels on every side (shrunk when negative).</summary>
    public PixelRect Inflate(int horizontal, int vertical) => new(X - horizontal, Y - vertical, Width + 2 * horizontal, Height + 2 * vertical);

    /// <summary>The part inside a <paramref name="width"/> x <paramref name="height"/> frame.</summary>
    public PixelRect ClampTo(int width, int height) => Intersect(new PixelRect(0, 0, width, height));

    public override string ToString() => $"{Width}x{Height}+{X}+{Y}";
}

/// <summary>A point in frame pixels (fractional): polygon corners, line ends, box anchors.</summary>
public readonly record struct FramePoint(float X, float Y);
