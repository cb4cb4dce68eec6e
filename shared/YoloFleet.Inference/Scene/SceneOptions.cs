namespace YoloFleet.Inference.Scene;

/// <summary>How a camera's frames reach the detector.</summary>
public enum SceneMode
{
    /// <summary>Motion decides: regions where something moves or a track needs a look, a keep-alive whole frame otherwise.</summary>
    MotionGated,

    /// <summary>The detector runs on every whole frame (tracking, zones and events still run).</summary>
    WholeFrame,
}

/// <summary>Opt-in tiling for small objects: overlapping tiles at the model's input size plus the whole frame, merged.</summary>
public sealed class TilingOptions
{
    /// <summary>Off by default: it multiplies the detector's cost (by the tile count plus one).</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// The least share of a tile that its neighbour overlaps. An object smaller than the overlap is whole in at least
    /// one tile; one cut by every tile is large enough for the whole-frame pass to find.
    /// </summary>
    public float Overlap { get; set; } = 0.25f;

    /// <exception cref="ArgumentOutOfRangeException">The overlap is out of range.</exception>
    public void Validate()
    {
        if (!(Overlap is >= 0f and <= 0.75f))
        {
            throw new ArgumentOutOfRangeException(nameof(Overlap), Overlap, "Tiling Overlap must be 0 to 0.75.");
        }
    }
}

/// <summary>A camera's scene settings: gating, regions, tiling, tracking, zones and events. docs/scene.md explains each.</summary>
public sealed class SceneOptions
{
    public SceneMode Mode { get; set; } = SceneMode.MotionGated;

    /// <summary>With nothing moving, the whole frame is still detected this often (seconds), to find what stands still and re-check what is tracked.</summary>
    public double KeepAliveSeconds { get; set; } = 10;

    /// <summary>
    /// While something moves, the detector runs this often (seconds) on the regions, and the tracker carries every
    /// object between runs. 0 runs it on every frame. At 0.2 s a walking person moves about 0.3 m, half their width,
    /// between runs, which a constant-velocity prediction carries well; at 0.3 s recall during motion fell below 0.95
    /// on vtest (docs/benchmarks.md).
    /// </summary>
    public double ActiveDetectionSeconds { get; set; } = 0.2;

    public MotionGateOptions Motion { get; init; } = new();

    public RegionPlannerOptions Regions { get; init; } = new();

    public TilingOptions Tiling { get; init; } = new();

    public TrackerOptions Tracker { get; init; } = new();

    public ZoneOptions Zones { get; init; } = new();

    public ObjectEventOptions Events { get; init; } = new();

    /// <exception cref="ArgumentException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!(KeepAliveSeconds > 0) || !double.IsFinite(KeepAliveSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveSeconds), KeepAliveSeconds, "KeepAliveSeconds must be more than 0.");
        }

        if (!(ActiveDetectionSeconds >= 0 && ActiveDetectionSeconds <= KeepAliveSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(ActiveDetectionSeconds), ActiveDetectionSeconds, "ActiveDetectionSeconds must be 0 to KeepAliveSeconds.");
        }

        Motion.Validate();
        Regions.Validate();
        Tiling.Validate();
        Tracker.Validate();
        Zones.Validate();
        Events.Validate();
    }
}
