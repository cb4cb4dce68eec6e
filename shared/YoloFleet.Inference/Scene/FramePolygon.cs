namespace YoloFleet.Inference.Scene;

/// <summary>
/// A closed polygon in frame pixels (corners in order, either winding; the last corner joins the first). Masks and
/// zones are polygons; a self-crossing one is read with the even-odd rule.
/// </summary>
public sealed class FramePolygon
{
    private readonly FramePoint[] _corners;

    /// <exception cref="ArgumentException">Fewer than 3 corners, or a corner that is not a finite number.</exception>
    public FramePolygon(IEnumerable<FramePoint> corners)
    {
        ArgumentNullException.ThrowIfNull(corners);
        _corners = [.. corners];
        if (_corners.Length < 3)
        {
            throw new ArgumentException($"A polygon needs at least 3 corners; got {_corners.Length}.", nameof(corners));
        }

        foreach (var corner in _corners)
        {
            if (!float.IsFinite(corner.X) || !float.IsFinite(corner.Y))
            {
                throw new ArgumentException($"Polygon corner ({corner.X}, {corner.Y}) is not a finite point.", nameof(corners));
            }
        }
    }

    /// <summary>A polygon from alternating x, y values: [x0, y0, x1, y1, ...], the shape configuration files use.</summary>
    public static FramePolygon FromCoordinates(IReadOnlyList<float> coordinates)
    {
        ArgumentNullException.ThrowIfNull(coordinates);
        if (coordinates.Count % 2 != 0)
        {
            throw new ArgumentException($"A polygon's coordinates come in x, y pairs; got {coordinates.Count} values.", nameof(coordinates));
        }

        var corners = new FramePoint[coordinates.Count / 2];
        for (var i = 0; i < corners.Length; i++)
        {
            corners[i] = new FramePoint(coordinates[2 * i], coordinates[2 * i + 1]);
        }

        return new FramePolygon(corners);
    }

    public IReadOnlyList<FramePoint> Corners => _corners;

    /// <summary>Whether the point lies inside (even-odd rule; a point exactly on an edge may go either way).</summary>
    public bool Contains(FramePoint point)
    {
        var inside = false;
        for (int i = 0, j = _corners.Length - 1; i < _corners.Length; j = i++)
        {
            var (a, b) = (_corners[i], _corners[j]);
            if ((a.Y > point.Y) != (b.Y > point.Y)
                && point.X < (b.X - a.X) * (point.Y - a.Y) / (b.Y - a.Y) + a.X)
            {
                inside = !inside;
            }
        }

        return inside;
    }

    /// <summary>The distance from the point to the nearest edge, positive inside and negative outside.</summary>
    public float SignedDistance(FramePoint point)
    {
        var nearest = float.MaxValue;
        for (int i = 0, j = _corners.Length - 1; i < _corners.Length; j = i++)
        {
            nearest = MathF.Min(nearest, DistanceToSegment(point, _corners[j], _corners[i]));
        }

        return Contains(point) ? nearest : -nearest;
    }

    /// <summary>The smallest rectangle of whole pixels that holds the polygon.</summary>
    public PixelRect Bounds()
    {
        float left = float.MaxValue, top = float.MaxValue, right = float.MinValue, bottom = float.MinValue;
        foreach (var corner in _corners)
        {
            left = MathF.Min(left, corner.X);
            top = MathF.Min(top, corner.Y);
            right = MathF.Max(right, corner.X);
            bottom = MathF.Max(bottom, corner.Y);
        }

        return PixelRect.Covering(left, top, right, bottom);
    }

    internal static float DistanceToSegment(FramePoint point, FramePoint from, FramePoint to)
    {
        var (dx, dy) = (to.X - from.X, to.Y - from.Y);
        var lengthSquared = dx * dx + dy * dy;
        var t = lengthSquared > 0 ? Math.Clamp(((point.X - from.X) * dx + (point.Y - from.Y) * dy) / lengthSquared, 0f, 1f) : 0f;
        var (nearestX, nearestY) = (from.X + t * dx, from.Y + t * dy);
        return MathF.Sqrt((point.X - nearestX) * (point.X - nearestX) + (point.Y - nearestY) * (point.Y - nearestY));
    }
}
