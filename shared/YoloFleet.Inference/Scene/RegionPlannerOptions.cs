namespace YoloFleet.Inference.Scene;

/// <summary>Settings of the <see cref="RegionPlanner"/>. The defaults and why they are what they are: docs/scene.md.</summary>
public sealed class RegionPlannerOptions
{
    /// <summary>Each motion box and predicted track box is grown by this share of its larger side on every side (context for the detector, room for the object to move).</summary>
    public float MarginFraction { get; set; } = 0.25f;

    /// <summary>...and by at least this many pixels.</summary>
    public int MarginPixels { get; set; } = 16;

    /// <summary>
    /// Two regions are merged into one when the merged region needs the detector to shrink it by at most this factor
    /// (region side / model input side). A region costs one detector run whatever its size, so merging saves a run, and
    /// at 1.5 an object keeps two thirds of its pixels: the scale range detectors are trained with covers that.
    /// </summary>
    public float MaxRegionScale { get; set; } = 1.5f;

    /// <summary>More regions than this after merging and the whole frame is detected instead (one run).</summary>
    public int MaxRegions { get; set; } = 2;

    /// <summary>
    /// When the regions together cover at least this share of the frame, the whole frame is detected instead: one run
    /// for nearly the same pixels, with no object cut at a region's edge.
    /// </summary>
    public float WholeFrameFraction { get; set; } = 0.6f;

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!(MarginFraction is >= 0f and <= 4f))
        {
            throw new ArgumentOutOfRangeException(nameof(MarginFraction), MarginFraction, "MarginFraction must be 0 to 4.");
        }

        if (MarginPixels is < 0 or > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MarginPixels), MarginPixels, "MarginPixels must be 0 to 4096.");
        }

        if (!(MaxRegionScale is >= 1f and <= 16f))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRegionScale), MaxRegionScale, "MaxRegionScale must be 1 to 16.");
        }

        if (MaxRegions is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRegions), MaxRegions, "MaxRegions must be 1 to 64.");
        }

        if (!(WholeFrameFraction is > 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(WholeFrameFraction), WholeFrameFraction, "WholeFrameFraction must be more than 0 and at most 1.");
        }
    }
}
