using System.Runtime.InteropServices;

namespace YoloFleet.Inference.Scene;

/// <summary>What the detector should look at in a frame.</summary>
public enum DetectionPlanKind
{
    /// <summary>Nothing: the tracker carries every object through this frame.</summary>
    Skip,

    /// <summary>Crops of the frame (<see cref="DetectionPlan.Regions"/>).</summary>
    Regions,

    /// <summary>The whole frame (one region, the frame).</summary>
    WholeFrame,

    /// <summary>Tiles at the model's input size plus the whole frame (the last region), merged.</summary>
    Tiles,
}

/// <summary>Why the detector runs (or does not) in a frame.</summary>
public enum DetectionReason
{
    /// <summary>Nothing moves and the keep-alive is not due.</summary>
    Idle,

    /// <summary>Something moves, but the detector ran less than <see cref="SceneOptions.ActiveDetectionSeconds"/> ago.</summary>
    Carried,

    /// <summary><see cref="SceneMode.WholeFrame"/>: every frame.</summary>
    EveryFrame,

    /// <summary>The first frame, or <see cref="SceneOptions.KeepAliveSeconds"/> passed since the detector last ran.</summary>
    KeepAlive,

    /// <summary>Something moves (motion, or a track that is moving), or a track needs a look (unconfirmed or lost).</summary>
    Activity,

    /// <summary>Most of the frame changed at once (lighting, camera).</summary>
    GlobalChange,
}

/// <summary>The plan for one frame. The region list belongs to the analyzer and is reused next frame.</summary>
public readonly record struct DetectionPlan(DetectionPlanKind Kind, DetectionReason Reason, IReadOnlyList<PixelRect> Regions, MotionResult Motion)
{
    public bool RunsDetector => Kind != DetectionPlanKind.Skip;
}

/// <summary>Everything the scene made of one frame. The lists belong to the analyzer and are reused next frame.</summary>
/// <param name="Objects">The tracked objects in this frame: detected here, or carried by the tracker (see <see cref="TrackedObject.IsDetected"/>).</param>
/// <param name="Crops">Pictures to cut from this frame now (best crops of objects).</param>
public sealed record SceneFrame(
    long FrameIndex,
    DateTimeOffset Timestamp,
    DetectionPlan Plan,
    IReadOnlyList<TrackedObject> Objects,
    IReadOnlyList<ObjectEvent> Events,
    IReadOnlyList<ZoneEvent> ZoneEvents,
    IReadOnlyList<LineCrossing> Crossings,
    IReadOnlyList<CropRequest> Crops);

/// <summary>
/// One camera's scene: the motion gate, the detection schedule, the region planner, the tracker, zones and lines, and
/// object events, as one pure object with two calls per frame and no detector inside:
/// <list type="number">
/// <item><see cref="Plan"/> reads the frame's bytes and says what the detector should look at (nothing, regions, the
/// whole frame, or tiles);</item>
/// <item>the caller runs its detector on those crops (<see cref="RegionDetector"/> does it with OpenCV views) and passes
/// the merged detections, in frame pixels, to <see cref="Complete"/>, which tracks, counts and makes events.</item>
/// </list>
/// Frame times drive every timer, so a recorded video behaves as it did live. Not thread-safe: one per camera.
/// </summary>
public sealed class SceneAnalyzer
{
    // The gate does not run in WholeFrame mode: an empty result stands in.
    private static readonly MotionResult NoMotionAnalysed = new([], 0f, false, 0f, 0f, IsFirstFrame: false);

    private readonly SceneOptions _options;
    private readonly int _inputWidth;
    private readonly int _inputHeight;
    private readonly MotionGate _gate;
    private readonly RegionPlanner _planner;
    private readonly ByteTracker _tracker;
    private readonly ZoneMonitor _zones;
    private readonly ObjectEventBuilder _events;

    private readonly List<PixelRect> _regions = [];
    private readonly List<PixelRect> _seeds = [];
    private readonly List<PredictedTrack> _predicted = [];
    private readonly List<ObjectEvent> _eventList = [];
    private readonly List<CropRequest> _cropList = [];
    private readonly List<TrackedObject> _objectList = [];

    private long _frameIndex = -1;
    private int _frameWidth;
    private int _frameHeight;
    private DateTimeOffset _timestamp;
    private DateTimeOffset? _previousTimestamp;
    private DateTimeOffset? _lastDetection;
    private double _frameSeconds = 0.1;
    private DetectionPlan _plan;
    private bool _planned;

    /// <param name="modelInputWidth">The detector's input width: regions are sized for it.</param>
    /// <param name="modelInputHeight">The detector's input height.</param>
    public SceneAnalyzer(SceneOptions options, int modelInputWidth, int modelInputHeight)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelInputWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(modelInputHeight, 1);
        options.Validate();
        _options = options;
        _inputWidth = modelInputWidth;
        _inputHeight = modelInputHeight;
        _gate = new MotionGate(options.Motion);
        _planner = new RegionPlanner(options.Regions);
        _tracker = new ByteTracker(options.Tracker);
        _zones = new ZoneMonitor(options.Zones);
        _events = new ObjectEventBuilder(options.Events);
    }

    public SceneOptions Options => _options;

    /// <summary>Tracks alive now.</summary>
    public int TrackCount => _tracker.Count;

    /// <summary>
    /// Step 1 of 2 for a frame: motion, schedule and regions. <paramref name="timestamp"/> is the capture time, and
    /// must not go backwards.
    /// </summary>
    /// <exception cref="InvalidOperationException">The previous frame's <see cref="Complete"/> was not called.</exception>
    public DetectionPlan Plan(FrameView frame, DateTimeOffset timestamp)
    {
        if (_planned)
        {
            throw new InvalidOperationException("Plan was called twice without Complete: finish each frame with Complete, with no detections when the plan was Skip.");
        }

        if (_previousTimestamp is { } previous && timestamp < previous)
        {
            throw new ArgumentException($"Frame time {timestamp:O} is before the previous frame's {previous:O}; a scene's frames must be in time order.", nameof(timestamp));
        }

        if (_previousTimestamp is { } last && timestamp > last)
        {
            _frameSeconds += 0.2 * (Math.Min((timestamp - last).TotalSeconds, 5) - _frameSeconds);
        }

        _previousTimestamp = timestamp;
        _timestamp = timestamp;
        _frameIndex++;
        _frameWidth = frame.Width;
        _frameHeight = frame.Height;
        _regions.Clear();
        _planned = true;

        if (_options.Mode == SceneMode.WholeFrame)
        {
            return _plan = WholeFrame(DetectionReason.EveryFrame, NoMotionAnalysed);
        }

        var motion = _gate.Process(frame, timestamp);
        if (motion.GlobalChange)
        {
            return _plan = WholeFrame(DetectionReason.GlobalChange, motion);
        }

        // Half a frame of slack: a camera's frame times jitter, and a run due "now" should not slip a whole frame.
        var slack = TimeSpan.FromSeconds(_frameSeconds / 2);
        if (_lastDetection is not { } lastRun || timestamp - lastRun + slack >= TimeSpan.FromSeconds(_options.KeepAliveSeconds))
        {
            return _plan = WholeFrame(DetectionReason.KeepAlive, motion);
        }

        // Seeds: where it moves, and where the tracks that need a look will be: moving ones, unconfirmed ones (a second
        // sighting confirms or dismisses them), lost ones (found again, or gone), and any standing in the motion.
        _seeds.Clear();
        _seeds.AddRange(motion.Boxes);
        _predicted.Clear();
        _tracker.PredictNext(_predicted);
        var tracksNeedLook = false;
        foreach (var track in _predicted)
        {
            var box = PixelRect.Covering(track.X1, track.Y1, track.X2, track.Y2);
            var needsLook = track.IsMoving || track.Status != TrackStatus.Tracked;
            if (needsLook || OverlapsAny(box, motion.Boxes))
            {
                _seeds.Add(box);
                tracksNeedLook |= needsLook;
            }
        }

        if (!motion.HasMotion && !tracksNeedLook)
        {
            return _plan = new DetectionPlan(DetectionPlanKind.Skip, DetectionReason.Idle, _regions, motion);
        }

        if (timestamp - lastRun + slack < TimeSpan.FromSeconds(_options.ActiveDetectionSeconds))
        {
            return _plan = new DetectionPlan(DetectionPlanKind.Skip, DetectionReason.Carried, _regions, motion);
        }

        var kind = _planner.Plan(frame.Width, frame.Height, _inputWidth, _inputHeight, CollectionsMarshal.AsSpan(_seeds), _regions);
        return _plan = kind switch
        {
            RegionPlanKind.WholeFrame => WholeFrame(DetectionReason.Activity, motion),
            RegionPlanKind.Regions => new DetectionPlan(DetectionPlanKind.Regions, DetectionReason.Activity, _regions, motion),
            _ => new DetectionPlan(DetectionPlanKind.Skip, DetectionReason.Idle, _regions, motion),
        };
    }

    /// <summary>
    /// Step 2 of 2: the detections the plan asked for, merged and in frame pixels (ignored when the plan was
    /// <see cref="DetectionPlanKind.Skip"/>). Tracks, checks zones and lines, and makes events.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="Plan"/> was not called for this frame.</exception>
    public SceneFrame Complete(ReadOnlySpan<Detection> detections)
    {
        if (!_planned)
        {
            throw new InvalidOperationException("Complete was called without Plan: call Plan for each frame first.");
        }

        _planned = false;
        var observed = _plan.RunsDetector ? CollectionsMarshal.AsSpan(_regions) : [];
        if (_plan.RunsDetector)
        {
            _lastDetection = _timestamp;
        }

        var update = _tracker.Step(_timestamp, _frameWidth, _frameHeight, _plan.RunsDetector ? detections : [], observed);
        return Finish(update);
    }

    /// <summary>
    /// Ends the scene (the camera stops, the agent shuts down): every confirmed track ends, with its zones closed, and
    /// the frame returned holds their <see cref="ObjectEventKind.Ended"/> events. The scene can go on afterwards with
    /// new tracks.
    /// </summary>
    public SceneFrame Stop()
    {
        if (_planned)
        {
            throw new InvalidOperationException("Stop was called between Plan and Complete; complete the frame first.");
        }

        var update = _tracker.EndAll();
        _gate.Reset();
        _lastDetection = null;
        return Finish(update);
    }

    private SceneFrame Finish(TrackerUpdate update)
    {
        _eventList.Clear();
        _cropList.Clear();
        _objectList.Clear();
        _objectList.AddRange(update.Visible);
        var zones = _zones.Update(_timestamp, update.Visible, update.Ended);
        _events.Update(_frameIndex, _timestamp, Math.Max(1, _frameWidth), Math.Max(1, _frameHeight), update, zones, _eventList, _cropList);
        return new SceneFrame(_frameIndex, _timestamp, _plan, _objectList, _eventList, zones.ZoneEvents, zones.Crossings, _cropList);
    }

    private DetectionPlan WholeFrame(DetectionReason reason, MotionResult motion)
    {
        _regions.Clear();
        if (_options.Tiling.Enabled)
        {
            TilePlanner.Plan(_frameWidth, _frameHeight, _inputWidth, _inputHeight, _options.Tiling.Overlap, _regions);
            if (_regions.Count > 0)
            {
                _regions.Add(new PixelRect(0, 0, _frameWidth, _frameHeight));
                return new DetectionPlan(DetectionPlanKind.Tiles, reason, _regions, motion);
            }
        }

        _regions.Add(new PixelRect(0, 0, _frameWidth, _frameHeight));
        return new DetectionPlan(DetectionPlanKind.WholeFrame, reason, _regions, motion);
    }

    private static bool OverlapsAny(PixelRect box, IReadOnlyList<PixelRect> others)
    {
        foreach (var other in others)
        {
            if (box.Overlaps(other))
            {
                return true;
            }
        }

        return false;
    }
}
