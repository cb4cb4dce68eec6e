using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Inference;
using YoloFleet.Inference.Scene;
using SceneEventKind = YoloFleet.Inference.Scene.ObjectEventKind;
using WireDetection = YoloFleet.Contracts.Wire.Detection;
using WireEventKind = YoloFleet.Contracts.Wire.ObjectEventKind;

namespace YoloFleet.EdgeAgent.Scene;

/// <summary>What the scene made of one frame, kept with the frame until it is published. Reused frame after frame.</summary>
public sealed class SceneStep
{
    /// <summary>The detector ran on this frame (on <see cref="Plan"/>'s regions, or the whole frame).</summary>
    public bool DetectorRan { get; set; }

    public DetectionPlanKind Plan { get; set; }

    /// <summary>Milliseconds the scene took on this frame: gate, plan, detector runs, tracker, crops.</summary>
    public double Milliseconds { get; set; }

    /// <summary>The detector's merged boxes in frame pixels (empty when it did not run).</summary>
    public List<YoloFleet.Inference.Detection> Detected { get; } = [];

    /// <summary>The tracked objects in this frame (detected here or carried by the tracker), as boxes.</summary>
    public List<YoloFleet.Inference.Detection> Objects { get; } = [];

    /// <summary>The frame's object events, in the order made.</summary>
    public List<ObjectEvent> Events { get; } = [];

    /// <summary>Best pictures cut from this frame (JPEG), by track.</summary>
    public List<(long TrackId, byte[] Jpeg)> Crops { get; } = [];

    public int FrameWidth { get; set; }

    public int FrameHeight { get; set; }

    public void Clear()
    {
        DetectorRan = false;
        Plan = DetectionPlanKind.Skip;
        Milliseconds = 0;
        Detected.Clear();
        Objects.Clear();
        Events.Clear();
        Crops.Clear();
    }
}

/// <summary>
/// One camera's scene in the agent: the <see cref="SceneAnalyzer"/> (motion gate, regions, tracker, zones, lines,
/// events) around the running detector, and the object events it makes turned into <c>ObjectEventPublished</c>
/// messages in the durable outbox. Two halves, each called in frame order from one thread at a time:
/// <list type="bullet">
/// <item><see cref="Detect"/> (MotionGated: the scene decides where and whether the detector runs) or
/// <see cref="Observe"/> (WholeFrame: the pipeline's own whole-frame detections) while the frame is alive; pictures of
/// objects are cut and encoded here;</item>
/// <item><see cref="Emit"/> when the frame is published: events go to the outbox, and <see cref="OpenObjectStore"/>
/// keeps the objects still open, so that a crash never leaves an object without its end.</item>
/// </list>
/// An object's id is the sequence number of its start event: unique per device across restarts with no counter of its
/// own (the device's sequence already is one).
/// </summary>
public sealed class SceneStage
{
    private readonly SceneAnalyzer _scene;
    private readonly ObjectEventsOptions _options;
    private readonly OpenObjectStore? _store;
    private readonly TimeProvider _time;
    private readonly Dictionary<long, ulong> _objectIds = [];
    private readonly Dictionary<long, byte[]> _unsentCrops = [];
    private RegionDetector? _regions;
    private DateTimeOffset _lastFrameTime = DateTimeOffset.MinValue;

    /// <param name="store">Where open objects are kept; null when events are off (nothing is emitted).</param>
    public SceneStage(SceneOptions scene, ObjectEventsOptions options, OpenObjectStore? store, TimeProvider time, int modelInputWidth, int modelInputHeight)
    {
        ArgumentNullException.ThrowIfNull(options);
        _scene = new SceneAnalyzer(scene, modelInputWidth, modelInputHeight);
        _options = options;
        _store = store;
        _time = time;
    }

    /// <summary>MotionGated: the scene decides where and when the detector runs; WholeFrame: the pipeline runs it on every frame.</summary>
    public bool GatesDetector => _scene.Options.Mode == SceneMode.MotionGated;

    /// <summary>Object events go to the outbox.</summary>
    public bool EmitsEvents => _store is not null;

    /// <summary>Detector runs (one per region) the scene asked for so far.</summary>
    public long DetectorRuns { get; private set; }

    /// <summary>Frames the scene let pass without running the detector.</summary>
    public long FramesSkipped { get; private set; }

    /// <summary>Object events stored in the outbox so far.</summary>
    public long EventsEmitted { get; private set; }

    /// <summary>Best pictures left out because even at the lowest quality they would not fit the protocol.</summary>
    public long CropsTooLarge { get; private set; }

    /// <summary>
    /// MotionGated: motion and schedule, then the detector on the plan's regions of <paramref name="frame"/> (8-bit BGR),
    /// then tracker, zones and events. Writes everything into <paramref name="step"/>.
    /// </summary>
    public void Detect(Mat frame, DateTimeOffset capturedAt, Detector detector, SceneStep step)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(step);
        var started = Stopwatch.GetTimestamp();
        step.Clear();
        var plan = _scene.Plan(RegionDetector.ViewOf(frame), Monotonic(capturedAt));
        step.Plan = plan.Kind;
        if (plan.RunsDetector)
        {
            if (!ReferenceEquals(_regions?.Detector, detector))
            {
                _regions = new RegionDetector(detector);
            }

            var before = _regions.Invocations;
            _regions.Detect(frame, plan.Regions, step.Detected);
            DetectorRuns += _regions.Invocations - before;
            step.DetectorRan = true;
        }
        else
        {
            FramesSkipped++;
        }

        Complete(frame, step.Detected, step);
        step.Milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>WholeFrame: the pipeline's own detections of the whole <paramref name="frame"/> go to the tracker, zones and events.</summary>
    public void Observe(Mat frame, DateTimeOffset capturedAt, List<YoloFleet.Inference.Detection> detections, SceneStep step)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(step);
        var started = Stopwatch.GetTimestamp();
        step.Clear();
        var plan = _scene.Plan(RegionDetector.ViewOf(frame), Monotonic(capturedAt));
        step.Plan = plan.Kind;
        step.DetectorRan = true;
        Complete(frame, detections, step);
        step.Milliseconds = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>The camera stops (source ended or lost, agent stopping): every object ends; the events are in <paramref name="step"/>.</summary>
    public void Stop(SceneStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        step.Clear();
        var frame = _scene.Stop();
        step.Events.AddRange(frame.Events);
    }

    /// <summary>
    /// Ends the objects a previous run left open (it crashed, or lost power, before their end): one Ended event each,
    /// marked <c>recovered</c>, with the object's story as last persisted. Returns how many.
    /// </summary>
    public int RecoverOpenObjects(UpstreamWriter upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        if (_store is null || _store.Open.Count == 0)
        {
            return 0;
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var ended = 0;
        foreach (var open in _store.Open.ToList())
        {
            var end = open.Clone();
            end.Kind = WireEventKind.Ended;
            end.Revision = open.Revision + 1;
            end.Recovered = true;
            end.AtUnixMs = Math.Max(now, open.LastSeenUnixMs);
            upstream.Append(Topics.ObjectEventsKind, end, envelope => end.Envelope = envelope);
            _store.Record(end);
            ended++;
        }

        _store.Save();
        EventsEmitted += ended;
        return ended;
    }

    /// <summary>
    /// Stores the frame's object events in the outbox, in order. A start is written to the open-object file before it
    /// enters the outbox (its id is its sequence number, known then), so no start is ever in the outbox without the
    /// file naming it; updates and ends are written to the file after they entered the outbox.
    /// </summary>
    public void Emit(SceneStep step, UpstreamWriter upstream, RunningModel model)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(model);
        if (_store is null)
        {
            return;
        }

        foreach (var (trackId, jpeg) in step.Crops)
        {
            _unsentCrops[trackId] = jpeg;
        }

        var changed = false;
        foreach (var item in step.Events)
        {
            var message = ToWire(item, step, model);
            if (item.Kind == SceneEventKind.Started)
            {
                upstream.Append(Topics.ObjectEventsKind, message, envelope =>
                {
                    message.Envelope = envelope;
                    message.ObjectId = envelope.Sequence;
                    _objectIds[item.TrackId] = envelope.Sequence;
                    _store.Record(message);
                    _store.Save();
                });
            }
            else if (_objectIds.TryGetValue(item.TrackId, out var objectId))
            {
                message.ObjectId = objectId;
                upstream.Append(Topics.ObjectEventsKind, message, envelope => message.Envelope = envelope);
                _store.Record(message);
                changed = true;
                if (item.Kind == SceneEventKind.Ended)
                {
                    _objectIds.Remove(item.TrackId);
                    _unsentCrops.Remove(item.TrackId);
                }
            }
            else
            {
                // Its start was never stored (its frame was in flight when a run asked for no more frames): the cloud
                // never heard of it, so neither does it hear its updates or end.
                continue;
            }

            EventsEmitted++;
        }

        if (changed)
        {
            _store.Save();
        }
    }

    private void Complete(Mat frame, List<YoloFleet.Inference.Detection> detections, SceneStep step)
    {
        var result = _scene.Complete(CollectionsMarshal.AsSpan(detections));
        step.FrameWidth = frame.Width;
        step.FrameHeight = frame.Height;
        foreach (var item in result.Objects)
        {
            step.Objects.Add(item.ToDetection());
        }

        step.Events.AddRange(result.Events);
        if (_store is null)
        {
            return;
        }

        foreach (var request in result.Crops)
        {
            if (EncodeCrop(frame, request.Crop.Box) is { } jpeg)
            {
                step.Crops.Add((request.TrackId, jpeg));
            }
        }
    }

    /// <summary>The crop as JPEG, scaled to <see cref="ObjectEventsOptions.MaxCropSide"/>; lower qualities until it fits the protocol, else null.</summary>
    private byte[]? EncodeCrop(Mat frame, PixelRect box)
    {
        box = box.ClampTo(frame.Width, frame.Height);
        if (box.IsEmpty)
        {
            return null;
        }

        using var view = new Mat(frame, new Rect(box.X, box.Y, box.Width, box.Height));
        var scale = Math.Min(1.0, (double)_options.MaxCropSide / Math.Max(box.Width, box.Height));
        using var scaled = scale < 1.0
            ? view.Resize(new Size(Math.Max(1, (int)Math.Round(box.Width * scale)), Math.Max(1, (int)Math.Round(box.Height * scale))), 0, 0, InterpolationFlags.Area)
            : view.Clone();
        for (var quality = _options.JpegQuality; quality >= 10; quality -= 25)
        {
            Cv2.ImEncode(".jpg", scaled, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
            if (jpeg.Length <= ProtocolLimits.MaxObjectCropBytes)
            {
                return jpeg;
            }
        }

        CropsTooLarge++;
        return null;
    }

    private ObjectEventPublished ToWire(ObjectEvent item, SceneStep step, RunningModel model)
    {
        var message = new ObjectEventPublished
        {
            EventVersion = ObjectEvents.ContractVersion,
            Kind = item.Kind switch
            {
                SceneEventKind.Started => WireEventKind.Started,
                SceneEventKind.Updated => WireEventKind.Updated,
                _ => WireEventKind.Ended,
            },
            Revision = (uint)item.Revision,
            ClassId = (uint)item.ClassId,
            AtUnixMs = item.At.ToUnixTimeMilliseconds(),
            FirstSeenUnixMs = item.FirstSeen.ToUnixTimeMilliseconds(),
            LastSeenUnixMs = item.LastSeen.ToUnixTimeMilliseconds(),
            BestScore = Math.Clamp(item.BestScore, 0f, 1f),
            FrameWidth = (uint)step.FrameWidth,
            FrameHeight = (uint)step.FrameHeight,
            ModelVersion = model.Version.Length <= ProtocolLimits.MaxModelVersionLength ? model.Version : model.Version[..ProtocolLimits.MaxModelVersionLength],
            ModelSha256 = model.Sha256,
        };

        // The most recent visits and crossings when there are more than the protocol carries.
        foreach (var visit in item.Zones.Skip(Math.Max(0, item.Zones.Count - ProtocolLimits.MaxZoneVisitsPerEvent)))
        {
            message.Zones.Add(new ObjectZoneVisit
            {
                Zone = Bounded(visit.Zone),
                EnteredUnixMs = visit.Entered.ToUnixTimeMilliseconds(),
                ExitedUnixMs = visit.Exited?.ToUnixTimeMilliseconds() ?? 0,
            });
        }

        foreach (var crossing in item.Lines.Skip(Math.Max(0, item.Lines.Count - ProtocolLimits.MaxLineCrossingsPerEvent)))
        {
            message.Lines.Add(new ObjectLineCrossing
            {
                Line = Bounded(crossing.Line),
                Direction = crossing.Direction == CrossingDirection.LeftToRight ? ObjectEvents.LeftToRight : ObjectEvents.RightToLeft,
                AtUnixMs = crossing.At.ToUnixTimeMilliseconds(),
            });
        }

        if (item.BestCrop is { } best)
        {
            message.BestBox = new WireDetection
            {
                ClassId = (uint)item.ClassId,
                Score = Math.Clamp(best.Score, 0f, 1f),
                X1 = best.Box.X,
                Y1 = best.Box.Y,
                X2 = best.Box.X + best.Box.Width,
                Y2 = best.Box.Y + best.Box.Height,
            };
        }

        // The picture goes once, with the first event after it was cut; later events leave it out.
        if (_unsentCrops.Remove(item.TrackId, out var jpeg))
        {
            message.BestCropJpeg = ByteString.CopyFrom(jpeg);
        }

        return message;
    }

    private static string Bounded(string name) => name.Length <= ProtocolLimits.MaxSceneNameLength ? name : name[..ProtocolLimits.MaxSceneNameLength];

    /// <summary>Frame times never go backwards for the scene (a clock stepped back by NTP would otherwise stop it).</summary>
    private DateTimeOffset Monotonic(DateTimeOffset capturedAt)
    {
        if (capturedAt < _lastFrameTime)
        {
            capturedAt = _lastFrameTime;
        }

        _lastFrameTime = capturedAt;
        return capturedAt;
    }
}
