namespace YoloFleet.Inference.Scene;

/// <summary>
/// Turns motion boxes and tracks' predicted boxes (the seeds) into the few crops of the frame that the detector runs
/// on: each seed is grown by a margin; overlapping ones are joined; each group becomes a region at native resolution,
/// at least the model's input size where the frame allows and of the model's aspect (the extra context is free: the
/// detector's input is that size anyway); regions are merged while the merged one needs little shrinking; and when the
/// regions would be many or cover most of the frame, the whole frame is detected instead. Pure arithmetic on
/// rectangles, allocation-free after warm-up. Not thread-safe.
/// </summary>
public sealed class RegionPlanner
{
    private readonly RegionPlannerOptions _options;
    private readonly List<PixelRect> _groups = [];

    public RegionPlanner(RegionPlannerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    public RegionPlannerOptions Options => _options;

    /// <summary>
    /// Plans the crops for one frame into <paramref name="regions"/> (cleared first).
    /// </summary>
    /// <returns>
    /// <see cref="RegionPlanKind.Regions"/> with the crops; <see cref="RegionPlanKind.WholeFrame"/> with one rectangle,
    /// the frame; or <see cref="RegionPlanKind.None"/> (no seeds) with none.
    /// </returns>
    public RegionPlanKind Plan(int frameWidth, int frameHeight, int inputWidth, int inputHeight, ReadOnlySpan<PixelRect> seeds, List<PixelRect> regions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputHeight, 1);
        ArgumentNullException.ThrowIfNull(regions);
        regions.Clear();
        _groups.Clear();
        foreach (var seed in seeds)
        {
            var clipped = seed.ClampTo(frameWidth, frameHeight);
            if (clipped.IsEmpty)
            {
                continue;
            }

            var margin = Math.Max(_options.MarginPixels, (int)MathF.Ceiling(_options.MarginFraction * Math.Max(clipped.Width, clipped.Height)));
            _groups.Add(clipped.Inflate(margin, margin).ClampTo(frameWidth, frameHeight));
        }

        if (_groups.Count == 0)
        {
            return RegionPlanKind.None;
        }

        JoinOverlapping();
        MergeWhileCheap(inputWidth, inputHeight);

        var frame = new PixelRect(0, 0, frameWidth, frameHeight);
        var frameScale = Math.Max((double)frameWidth / inputWidth, (double)frameHeight / inputHeight);
        var area = 0L;
        foreach (var group in _groups)
        {
            var region = Fit(group, frameWidth, frameHeight, inputWidth, inputHeight);
            area += region.Area;
            // A region as coarse as the whole frame sees no more detail than the frame does, and less of it.
            if (ScaleOf(region, inputWidth, inputHeight) >= frameScale || region == frame)
            {
                return WholeFrame(frame, regions);
            }

            regions.Add(region);
        }

        if (regions.Count > _options.MaxRegions || area >= _options.WholeFrameFraction * frame.Area)
        {
            return WholeFrame(frame, regions);
        }

        return RegionPlanKind.Regions;
    }

    /// <summary>
    /// The region for a group of content: the content's scale (its side over the input's, at least 1), times the input
    /// size, clipped to the frame, centred on the content and moved inside the frame.
    /// </summary>
    public static PixelRect Fit(PixelRect content, int frameWidth, int frameHeight, int inputWidth, int inputHeight)
    {
        var scale = ScaleOf(content, inputWidth, inputHeight);
        var width = Math.Min(frameWidth, Math.Max(content.Width, (int)Math.Ceiling(inputWidth * scale)));
        var height = Math.Min(frameHeight, Math.Max(content.Height, (int)Math.Ceiling(inputHeight * scale)));
        var x = Math.Clamp(content.X + content.Width / 2 - width / 2, 0, frameWidth - width);
        var y = Math.Clamp(content.Y + content.Height / 2 - height / 2, 0, frameHeight - height);
        return new PixelRect(x, y, width, height);
    }

    /// <summary>How much the detector shrinks this rectangle to fit its input (1 when it fits as it is).</summary>
    public static double ScaleOf(PixelRect content, int inputWidth, int inputHeight) =>
        Math.Max(1.0, Math.Max((double)content.Width / inputWidth, (double)content.Height / inputHeight));

    private static RegionPlanKind WholeFrame(PixelRect frame, List<PixelRect> regions)
    {
        regions.Clear();
        regions.Add(frame);
        return RegionPlanKind.WholeFrame;
    }

    private void JoinOverlapping()
    {
        for (var joined = true; joined;)
        {
            joined = false;
            for (var i = 0; i < _groups.Count && !joined; i++)
            {
                for (var j = i + 1; j < _groups.Count; j++)
                {
                    if (_groups[i].Overlaps(_groups[j]))
                    {
                        _groups[i] = _groups[i].Union(_groups[j]);
                        _groups.RemoveAt(j);
                        joined = true;
                        break;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Merges the pair whose merged content needs the least shrinking, while that is at most
    /// <see cref="RegionPlannerOptions.MaxRegionScale"/> (or no worse than the coarser of the two already is).
    /// </summary>
    private void MergeWhileCheap(int inputWidth, int inputHeight)
    {
        while (_groups.Count > 1)
        {
            var (bestI, bestJ, bestScale) = (-1, -1, double.MaxValue);
            for (var i = 0; i < _groups.Count; i++)
            {
                for (var j = i + 1; j < _groups.Count; j++)
                {
                    var merged = ScaleOf(_groups[i].Union(_groups[j]), inputWidth, inputHeight);
                    var allowed = Math.Max(_options.MaxRegionScale,
                        Math.Max(ScaleOf(_groups[i], inputWidth, inputHeight), ScaleOf(_groups[j], inputWidth, inputHeight)));
                    if (merged <= allowed && merged < bestScale)
                    {
                        (bestI, bestJ, bestScale) = (i, j, merged);
                    }
                }
            }

            if (bestI < 0)
            {
                return;
            }

            _groups[bestI] = _groups[bestI].Union(_groups[bestJ]);
            _groups.RemoveAt(bestJ);
        }
    }
}

/// <summary>What a <see cref="RegionPlanner"/> decided.</summary>
public enum RegionPlanKind
{
    /// <summary>No seeds: nothing to detect.</summary>
    None,

    /// <summary>Crops of the frame.</summary>
    Regions,

    /// <summary>The whole frame, as one region.</summary>
    WholeFrame,
}
