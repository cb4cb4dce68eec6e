namespace YoloFleet.Inference.Scene;

/// <summary>
/// A camera's scene settings in the shape a configuration file gives them (plain numbers and lists, so the agent can
/// bind them from appsettings.json or a cloud message without custom converters): polygons are flat lists
/// [x0, y0, x1, y1, ...] and line ends are [x, y], in frame pixels. <see cref="ToOptions"/> checks them and builds the
/// <see cref="SceneOptions"/>. docs/scene.md shows the JSON.
/// </summary>
public sealed class SceneSettings
{
    public SceneMode Mode { get; set; } = SceneMode.MotionGated;

    public double KeepAliveSeconds { get; set; } = 10;

    public double ActiveDetectionSeconds { get; set; } = 0.2;

    public MotionGateOptions Motion { get; set; } = new();

    /// <summary>Areas the motion gate ignores: each a flat polygon [x0, y0, x1, y1, ...].</summary>
    public List<float[]> Masks { get; set; } = [];

    public RegionPlannerOptions Regions { get; set; } = new();

    public TilingOptions Tiling { get; set; } = new();

    public TrackerOptions Tracker { get; set; } = new();

    public List<ZoneSettings> Zones { get; set; } = [];

    public List<LineSettings> Lines { get; set; } = [];

    public BoxAnchor Anchor { get; set; } = BoxAnchor.BottomCenter;

    /// <summary>At most one update event per object per this many seconds.</summary>
    public double EventUpdateSeconds { get; set; } = 10;

    /// <summary>Builds and checks the options.</summary>
    /// <param name="section">The settings' place in the configuration (e.g. "Agent:Scene"), to name a bad value by its path.</param>
    /// <exception cref="ArgumentException">A value is malformed or out of range; the message names it by its path.</exception>
    public SceneOptions ToOptions(string section = "Scene")
    {
        var motion = new MotionGateOptions
        {
            AnalysisWidth = Motion.AnalysisWidth,
            Threshold = Motion.Threshold,
            NoiseMultiplier = Motion.NoiseMultiplier,
            BackgroundSeconds = Motion.BackgroundSeconds,
            DilationRadius = Motion.DilationRadius,
            MinBlobPixels = Motion.MinBlobPixels,
            GlobalChangeFraction = Motion.GlobalChangeFraction,
            MaxBoxes = Motion.MaxBoxes,
        };
        for (var i = 0; i < Masks.Count; i++)
        {
            motion.Masks.Add(Polygon(Masks[i], $"{section}:Masks:{i}"));
        }

        var zones = new ZoneOptions { Anchor = Anchor };
        for (var i = 0; i < Zones.Count; i++)
        {
            var zone = Zones[i];
            var path = $"{section}:Zones:{i}";
            zones.Zones.Add(new SceneZone(Named(zone.Name, path), Polygon(zone.Polygon, $"{path}:Polygon")) { HysteresisPixels = zone.HysteresisPixels });
        }

        for (var i = 0; i < Lines.Count; i++)
        {
            var line = Lines[i];
            var path = $"{section}:Lines:{i}";
            var (from, to) = (Point(line.From, $"{path}:From"), Point(line.To, $"{path}:To"));
            if (from == to)
            {
                throw new ArgumentException($"{path}: From and To are the same point; a counting line needs two different ends.");
            }

            zones.Lines.Add(new CountingLine(Named(line.Name, path), from, to) { HysteresisPixels = line.HysteresisPixels });
        }

        var options = new SceneOptions
        {
            Mode = Mode,
            KeepAliveSeconds = KeepAliveSeconds,
            ActiveDetectionSeconds = ActiveDetectionSeconds,
            Motion = motion,
            Regions = Regions,
            Tiling = Tiling,
            Tracker = Tracker,
            Zones = zones,
            Events = new ObjectEventOptions { UpdateInterval = TimeSpan.FromSeconds(EventUpdateSeconds) },
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{section}: {ex.Message}", ex);
        }

        return options;
    }

    private static string Named(string? name, string path) =>
        string.IsNullOrWhiteSpace(name) ? throw new ArgumentException($"{path}:Name is missing; zones and lines need a name.") : name;

    private static FramePolygon Polygon(float[]? coordinates, string path)
    {
        if (coordinates is null || coordinates.Length < 6 || coordinates.Length % 2 != 0 || !Array.TrueForAll(coordinates, float.IsFinite))
        {
            throw new ArgumentException(
                $"{path} must be a flat list of at least 3 corners [x0, y0, x1, y1, x2, y2, ...] in frame pixels; got {(coordinates is null ? "nothing" : $"{coordinates.Length} values")}.");
        }

        return FramePolygon.FromCoordinates(coordinates);
    }

    private static FramePoint Point(float[]? coordinates, string path) =>
        coordinates is [var x, var y] && float.IsFinite(x) && float.IsFinite(y)
            ? new FramePoint(x, y)
            : throw new ArgumentException($"{path} must be a point [x, y] in frame pixels.");
}

/// <summary>A zone in a configuration file.</summary>
public sealed class ZoneSettings
{
    public string? Name { get; set; }

    /// <summary>Flat corners [x0, y0, x1, y1, ...] in frame pixels.</summary>
    public float[]? Polygon { get; set; }

    public float HysteresisPixels { get; set; } = 4f;
}

/// <summary>A counting line in a configuration file.</summary>
public sealed class LineSettings
{
    public string? Name { get; set; }

    /// <summary>[x, y] in frame pixels.</summary>
    public float[]? From { get; set; }

    /// <summary>[x, y] in frame pixels.</summary>
    public float[]? To { get; set; }

    public float HysteresisPixels { get; set; } = 4f;
}
