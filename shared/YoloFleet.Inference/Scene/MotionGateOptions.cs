namespace YoloFleet.Inference.Scene;

/// <summary>Settings of the <see cref="MotionGate"/>. The defaults and why they are what they are: docs/scene.md.</summary>
public sealed class MotionGateOptions
{
    /// <summary>
    /// The grey analysis image is at most this wide: the frame is averaged over square blocks of a whole number of
    /// pixels. Averaging is what makes the gate cheap and, at the same time, shrinks per-pixel sensor noise by the block
    /// side. 160 keeps a walking person at 768x576 (about 30x80) several analysis pixels wide.
    /// </summary>
    public int AnalysisWidth { get; set; } = 160;

    /// <summary>
    /// The least change of an analysis pixel's grey level (0..255) against the background that counts as motion. The
    /// threshold in force is the larger of this and <see cref="NoiseMultiplier"/> times the measured noise.
    /// </summary>
    public float Threshold { get; set; } = 10f;

    /// <summary>
    /// The threshold is at least this many standard deviations of the frame's own noise, measured every frame as the
    /// median absolute difference against the background (robust while less than half the frame moves). 4 standard
    /// deviations leave about one noisy pixel in 16,000, which <see cref="MinBlobPixels"/> then removes.
    /// </summary>
    public float NoiseMultiplier { get; set; } = 4f;

    /// <summary>
    /// Time constant of the running-average background, in seconds of frame time: something that stops moving fades
    /// into the background over about this long (63%), and a lighting drift slower than it is not motion.
    /// </summary>
    public double BackgroundSeconds { get; set; } = 4.0;

    /// <summary>Foreground pixels are grown by this many analysis pixels before grouping, so that one object's parts join.</summary>
    public int DilationRadius { get; set; } = 1;

    /// <summary>A group with fewer changed analysis pixels than this is noise, not motion.</summary>
    public int MinBlobPixels { get; set; } = 4;

    /// <summary>
    /// When more than this share of the unmasked frame changes at once (a light switched, the camera moved or
    /// re-exposed), the gate reports the whole frame as moving and takes the new frame as its background.
    /// </summary>
    public double GlobalChangeFraction { get; set; } = 0.5;

    /// <summary>At most this many motion boxes per frame, the largest first; the region planner merges them anyway.</summary>
    public int MaxBoxes { get; set; } = 64;

    /// <summary>Areas to ignore (a timestamp overlay, swaying trees, a road beyond the fence), in frame pixels.</summary>
    public IList<FramePolygon> Masks { get; } = [];

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (AnalysisWidth < 16)
        {
            throw new ArgumentOutOfRangeException(nameof(AnalysisWidth), AnalysisWidth, "AnalysisWidth must be at least 16 pixels.");
        }

        if (!(Threshold is > 0f and < 255f))
        {
            throw new ArgumentOutOfRangeException(nameof(Threshold), Threshold, "Threshold must be a grey-level change between 0 and 255.");
        }

        if (!(NoiseMultiplier >= 0f) || !float.IsFinite(NoiseMultiplier))
        {
            throw new ArgumentOutOfRangeException(nameof(NoiseMultiplier), NoiseMultiplier, "NoiseMultiplier must be 0 (off) or more.");
        }

        if (!(BackgroundSeconds > 0) || !double.IsFinite(BackgroundSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(BackgroundSeconds), BackgroundSeconds, "BackgroundSeconds must be more than 0.");
        }

        if (DilationRadius is < 0 or > 16)
        {
            throw new ArgumentOutOfRangeException(nameof(DilationRadius), DilationRadius, "DilationRadius must be 0 to 16 analysis pixels.");
        }

        if (MinBlobPixels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinBlobPixels), MinBlobPixels, "MinBlobPixels must be at least 1.");
        }

        if (!(GlobalChangeFraction is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(GlobalChangeFraction), GlobalChangeFraction, "GlobalChangeFraction must be more than 0 and at most 1.");
        }

        if (MaxBoxes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBoxes), MaxBoxes, "MaxBoxes must be at least 1.");
        }
    }
}
