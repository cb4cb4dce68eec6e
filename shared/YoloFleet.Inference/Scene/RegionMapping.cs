using System.Runtime.InteropServices;

namespace YoloFleet.Inference.Scene;

/// <summary>
/// Boxes between a region (a crop of the frame at native resolution) and the frame, and merging the boxes of several
/// regions. A crop is not rescaled by the scene (the detector fits it to its input and maps its boxes back to the crop
/// itself), so a region box becomes a frame box by adding the region's corner: one float addition per coordinate.
/// </summary>
public static class RegionMapping
{
    /// <summary>
    /// Within this many pixels of a region edge that lies inside the frame, a box is taken to be cut by that edge: the
    /// detector clamps a box that runs past its input to the input's edge.
    /// </summary>
    public const float CutTolerance = 1f;

    /// <summary>A box in region pixels to frame pixels.</summary>
    public static Detection ToFrame(in Detection inRegion, PixelRect region) => inRegion with
    {
        X1 = inRegion.X1 + region.X,
        Y1 = inRegion.Y1 + region.Y,
        X2 = inRegion.X2 + region.X,
        Y2 = inRegion.Y2 + region.Y,
    };

    /// <summary>A box in frame pixels to region pixels.</summary>
    public static Detection ToRegion(in Detection inFrame, PixelRect region) => inFrame with
    {
        X1 = inFrame.X1 - region.X,
        Y1 = inFrame.Y1 - region.Y,
        X2 = inFrame.X2 - region.X,
        Y2 = inFrame.Y2 - region.Y,
    };

    /// <summary>
    /// Whether a box (frame pixels) touches an edge of its region that is not the frame's edge: the object may go on
    /// beyond the crop, so its box is probably only part of it.
    /// </summary>
    public static bool IsCutByRegionEdge(in Detection inFrame, PixelRect region, int frameWidth, int frameHeight)
    {
        return (region.X > 0 && inFrame.X1 <= region.X + CutTolerance)
            || (region.Y > 0 && inFrame.Y1 <= region.Y + CutTolerance)
            || (region.Right < frameWidth && inFrame.X2 >= region.Right - CutTolerance)
            || (region.Bottom < frameHeight && inFrame.Y2 >= region.Bottom - CutTolerance);
    }

    /// <summary>
    /// Adds one region's detections (region pixels) to <paramref name="frameDetections"/> in frame pixels, leaving out
    /// those cut by an inner edge of the region: an object cut by one crop is whole in a neighbouring crop (tiles
    /// overlap by more than a small object), in the whole-frame pass (tiling), or is carried by its track (regions).
    /// </summary>
    /// <returns>How many were cut and left out.</returns>
    public static int AddFromRegion(ReadOnlySpan<Detection> inRegion, PixelRect region, int frameWidth, int frameHeight, List<Detection> frameDetections)
    {
        ArgumentNullException.ThrowIfNull(frameDetections);
        var cut = 0;
        foreach (var detection in inRegion)
        {
            var mapped = ToFrame(detection, region);
            if (IsCutByRegionEdge(mapped, region, frameWidth, frameHeight))
            {
                cut++;
                continue;
            }

            frameDetections.Add(mapped);
        }

        return cut;
    }

    /// <summary>
    /// Merges the detections of overlapping regions: best score first, a box is dropped when it overlaps a kept box (of
    /// its class, unless <paramref name="classAgnostic"/>) by more than <paramref name="iouThreshold"/>, as the
    /// detector's own NMS does within one run; at most <paramref name="maxDetections"/> are kept.
    /// </summary>
    public static void Merge(List<Detection> detections, float iouThreshold, bool classAgnostic, int maxDetections, List<Detection> scratch)
    {
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(scratch);
        scratch.Clear();
        scratch.AddRange(detections);
        scratch.Sort(NonMaxSuppression.ByScoreDescending);
        detections.Clear();
        NonMaxSuppression.Apply(CollectionsMarshal.AsSpan(scratch), iouThreshold, classAgnostic, maxDetections, detections);
    }
}

/// <summary>Overlapping tiles at the model's input size, for finding objects too small to survive the whole frame's shrinking.</summary>
public static class TilePlanner
{
    /// <summary>
    /// Tiles of the model input's size (clipped to the frame) at native resolution, overlapping by at least
    /// <paramref name="overlap"/> of a tile and spread evenly so that the last one ends at the frame's edge. A frame that
    /// already fits the input gets none: the whole-frame pass sees it at full resolution.
    /// </summary>
    public static void Plan(int frameWidth, int frameHeight, int inputWidth, int inputHeight, float overlap, List<PixelRect> tiles)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputHeight, 1);
        ArgumentNullException.ThrowIfNull(tiles);
        if (!(overlap is >= 0f and < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(overlap), overlap, "The overlap must be at least 0 and less than 1.");
        }

        tiles.Clear();
        if (frameWidth <= inputWidth && frameHeight <= inputHeight)
        {
            return;
        }

        var width = Math.Min(inputWidth, frameWidth);
        var height = Math.Min(inputHeight, frameHeight);
        var columns = Count(frameWidth, width, overlap);
        var rows = Count(frameHeight, height, overlap);
        for (var row = 0; row < rows; row++)
        {
            var y = rows == 1 ? 0 : (int)Math.Round((double)row * (frameHeight - height) / (rows - 1));
            for (var column = 0; column < columns; column++)
            {
                var x = columns == 1 ? 0 : (int)Math.Round((double)column * (frameWidth - width) / (columns - 1));
                tiles.Add(new PixelRect(x, y, width, height));
            }
        }
    }

    private static int Count(int frame, int tile, float overlap)
    {
        if (frame <= tile)
        {
            return 1;
        }

        var stride = Math.Max(1.0, tile * (1.0 - overlap));
        return (int)Math.Ceiling((frame - tile) / stride) + 1;
    }
}
