namespace YoloFleet.Inference.Scene;

/// <summary>Which point of a box stands for the object when zones and lines are checked.</summary>
public enum BoxAnchor
{
    /// <summary>The middle of the bottom edge: where a person or a vehicle touches the ground, so a zone drawn on the floor works whatever the object's height.</summary>
    BottomCenter,

    /// <summary>The box's centre.</summary>
    Center,
}

/// <summary>An area of the frame whose entries, exits and dwell times are counted per track.</summary>
public sealed class SceneZone
{
    public SceneZone(string name, FramePolygon polygon)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(polygon);
        Name = name;
        Polygon = polygon;
    }

    public string Name { get; }

    public FramePolygon Polygon { get; }

    /// <summary>
    /// An object enters only once its anchor is this many pixels inside the polygon, and leaves only once it is this
    /// many pixels outside: box jitter at the border does not count as coming and going.
    /// </summary>
    public float HysteresisPixels { get; init; } = 4f;
}

/// <summary>
/// A counting line from <see cref="From"/> to <see cref="To"/>. Seen on the image, walking from From to To, an object
/// crossing from the left-hand side to the right-hand side crosses <see cref="CrossingDirection.LeftToRight"/>.
/// </summary>
public sealed class CountingLine
{
    public CountingLine(string name, FramePoint from, FramePoint to)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!float.IsFinite(from.X) || !float.IsFinite(from.Y) || !float.IsFinite(to.X) || !float.IsFinite(to.Y) || from == to)
        {
            throw new ArgumentException($"Counting line '{name}' needs two different, finite end points.", nameof(to));
        }

        Name = name;
        From = from;
        To = to;
    }

    public string Name { get; }

    public FramePoint From { get; }

    public FramePoint To { get; }

    /// <summary>An object's side of the line changes only once its anchor is this many pixels beyond it.</summary>
    public float HysteresisPixels { get; init; } = 4f;
}

/// <summary>A camera's zones and counting lines.</summary>
public sealed class ZoneOptions
{
    public IList<SceneZone> Zones { get; } = [];

    public IList<CountingLine> Lines { get; } = [];

    public BoxAnchor Anchor { get; set; } = BoxAnchor.BottomCenter;

    /// <exception cref="ArgumentException">Two zones or two lines share a name, or a hysteresis is negative.</exception>
    public void Validate()
    {
        var zoneNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var zone in Zones)
        {
            if (!zoneNames.Add(zone.Name))
            {
                throw new ArgumentException($"Two zones are named '{zone.Name}'; zone names must differ.", nameof(Zones));
            }

            if (!(zone.HysteresisPixels >= 0f) || !float.IsFinite(zone.HysteresisPixels))
            {
                throw new ArgumentException($"Zone '{zone.Name}' has HysteresisPixels {zone.HysteresisPixels}; it must be 0 or more.", nameof(Zones));
            }
        }

        var lineNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in Lines)
        {
            if (!lineNames.Add(line.Name))
            {
                throw new ArgumentException($"Two counting lines are named '{line.Name}'; line names must differ.", nameof(Lines));
            }

            if (!(line.HysteresisPixels >= 0f) || !float.IsFinite(line.HysteresisPixels))
            {
                throw new ArgumentException($"Counting line '{line.Name}' has HysteresisPixels {line.HysteresisPixels}; it must be 0 or more.", nameof(Lines));
            }
        }
    }
}
