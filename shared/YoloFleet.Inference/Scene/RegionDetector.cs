using OpenCvSharp;

namespace YoloFleet.Inference.Scene;

/// <summary>
/// Runs a <see cref="Detector"/> on the regions of a <see cref="DetectionPlan"/> and merges what it finds into frame
/// pixels. Each region is an OpenCV view of the frame (a Mat ROI: a header over the frame's own pixels, no copy), which
/// the detector takes like any image: it letterboxes the crop and maps its boxes back to the crop, and
/// <see cref="RegionMapping"/> adds the crop's corner. Boxes cut by a crop's inner edge are dropped, and the crops'
/// boxes are merged with the detector's NMS settings. Not thread-safe (nor is the detector).
/// </summary>
public sealed class RegionDetector
{
    private readonly Detector _detector;
    private readonly List<Detection> _regionResults = new(capacity: 512);
    private readonly List<Detection> _scratch = new(capacity: 1024);

    public RegionDetector(Detector detector)
    {
        ArgumentNullException.ThrowIfNull(detector);
        _detector = detector;
    }

    public Detector Detector => _detector;

    /// <summary>Detector runs so far (one per region).</summary>
    public long Invocations { get; private set; }

    /// <summary>Boxes dropped so far because a region's inner edge cut them.</summary>
    public long CutBoxes { get; private set; }

    /// <summary>
    /// Detects in each region of <paramref name="frame"/> (8-bit BGR) and writes the merged detections, in frame
    /// pixels, to <paramref name="results"/> (cleared first). A single region covering the frame is a plain whole-frame
    /// detection.
    /// </summary>
    public void Detect(Mat frame, IReadOnlyList<PixelRect> regions, List<Detection> results)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(regions);
        ArgumentNullException.ThrowIfNull(results);
        results.Clear();
        var (width, height) = (frame.Width, frame.Height);
        var whole = new PixelRect(0, 0, width, height);
        if (regions.Count == 1 && regions[0] == whole)
        {
            _detector.Detect(frame, results);
            Invocations++;
            return;
        }

        foreach (var region in regions)
        {
            if (!whole.Contains(region) || region.IsEmpty)
            {
                throw new ArgumentException($"Region {region} is not inside the {width}x{height} frame.", nameof(regions));
            }

            if (region == whole)
            {
                _detector.Detect(frame, _regionResults);
            }
            else
            {
                using var view = new Mat(frame, new Rect(region.X, region.Y, region.Width, region.Height));
                _detector.Detect(view, _regionResults);
            }

            Invocations++;
            CutBoxes += RegionMapping.AddFromRegion(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_regionResults), region, width, height, results);
        }

        var thresholds = _detector.Thresholds;
        RegionMapping.Merge(results, thresholds.NmsIou, thresholds.ClassAgnostic, thresholds.MaxDetections, _scratch);
    }

    /// <summary>The frame's bytes for the motion gate: a view of an 8-bit BGR or grey Mat's data (the Mat must outlive it).</summary>
    /// <exception cref="ArgumentException">The Mat is neither 8-bit BGR nor 8-bit grey.</exception>
    public static unsafe FrameView ViewOf(Mat frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var type = frame.Type();
        var format = type == MatType.CV_8UC3 ? FramePixelFormat.Bgr24
            : type == MatType.CV_8UC1 ? FramePixelFormat.Gray8
            : throw new ArgumentException($"The motion gate reads 8-bit BGR or grey frames; got {type}.", nameof(frame));
        var stride = checked((int)frame.Step());
        var length = checked(stride * (frame.Rows - 1) + frame.Cols * frame.ElemSize());
        return new FrameView(new ReadOnlySpan<byte>(frame.DataPointer, length), frame.Cols, frame.Rows, stride, format);
    }
}
