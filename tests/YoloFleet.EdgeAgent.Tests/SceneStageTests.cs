using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Scene;
using YoloFleet.Inference;
using YoloFleet.Inference.Scene;
using ObjectEventKind = YoloFleet.Contracts.Wire.ObjectEventKind;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>
/// The agent's scene on synthetic video (a textured, noisy static background and a real object, coco128's zebra, walking
/// across it at 10 frames/s), with yolox_nano_416 and a real outbox: the gate keeps the detector off a static stretch,
/// the walker becomes one object with a start, updates and an end through the outbox (its id the start's sequence), and
/// after a crash mid-track the next start ends it, marked recovered, without a second start.
/// </summary>
[Trait("Category", "Scene")]
public sealed class SceneStageTests : IDisposable
{
    private const int Width = 640;
    private const int Height = 480;
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private readonly string _state = Path.Combine(Path.GetTempPath(), "yf-scene-" + Guid.NewGuid().ToString("N"));
    private readonly Detector _detector = Detector.Open(SharedData.YoloxNano416);
    private readonly RunningModel _model;

    public SceneStageTests()
    {
        _model = new RunningModel(_detector.Model.Sha256, _detector.Model.Version, ModelOrigin.Factory, _detector.Model.Path);
    }

    [Fact]
    public void The_gate_skips_a_static_stretch_and_a_walker_becomes_one_object_started_updated_and_ended()
    {
        using var agent = new AgentState(_state);
        var stage = NewStage(agent);
        var step = new SceneStep();
        using var video = new WalkerVideo();

        // 40 static frames (4 s): the first frame is a whole-frame look, then the gate keeps the detector off.
        for (var i = 0; i < 40; i++)
        {
            Run(stage, step, video.Frame(i, walker: null), i, agent);
        }

        Assert.Equal(1, stage.DetectorRuns);
        Assert.Equal(39, stage.FramesSkipped);

        // The walker crosses in 60 frames, then 40 static frames: it leaves and its track ends.
        for (var i = 40; i < 140; i++)
        {
            Run(stage, step, video.Frame(i, walker: i < 100 ? i - 40 : null), i, agent);
        }

        var events = agent.Events();
        var starts = events.Where(e => e.Kind == ObjectEventKind.Started).ToList();
        var start = Assert.Single(starts);
        Assert.Equal(start.Envelope.Sequence, start.ObjectId);
        Assert.True(start.BestCropJpeg.Length > 0 && start.BestCropJpeg[0] == 0xFF, "the start carries the object's picture");
        var mine = events.Where(e => e.ObjectId == start.ObjectId).ToList();
        Assert.Equal(ObjectEventKind.Ended, mine[^1].Kind);
        Assert.False(mine[^1].Recovered);
        Assert.Equal(Enumerable.Range(0, mine.Count).Select(r => (uint)r), mine.Select(e => e.Revision));
        Assert.All(events, e => Assert.True(
            WireDecoder.TryDecodeObjectEvent(agent.DeviceId, new System.Buffers.ReadOnlySequence<byte>(e.ToByteArray()), out _, out var rejection),
            rejection?.ToString()));

        // The walk passed the counting line once, left to right, and the zone it stood in was entered and left.
        Assert.Contains(mine[^1].Lines, l => l.Line == "middle" && l.Direction == ObjectEvents.LeftToRight);
        Assert.Contains(mine[^1].Zones, z => z.Zone == "right" && z.ExitedUnixMs >= z.EnteredUnixMs);

        // The detector ran far less often than once per frame, and nothing is left open.
        Assert.True(stage.DetectorRuns < 100, $"{stage.DetectorRuns} detector runs for 140 frames");
        Assert.Empty(new OpenObjectStore(_state).Open);
    }

    [Fact]
    public void After_a_crash_mid_track_the_next_start_ends_the_object_without_a_second_start()
    {
        ulong objectId;
        ulong lastBeforeCrash;
        using (var agent = new AgentState(_state))
        {
            var stage = NewStage(agent);
            var step = new SceneStep();
            using var video = new WalkerVideo();
            for (var i = 0; i < 50; i++)
            {
                Run(stage, step, video.Frame(i, walker: i >= 10 ? i - 10 : null), i, agent);
            }

            var before = agent.Events();
            objectId = Assert.Single(before, e => e.Kind == ObjectEventKind.Started).ObjectId;
            lastBeforeCrash = before[^1].Envelope.Sequence;
            Assert.Single(new OpenObjectStore(_state).Open);

            // The process dies here: no Stop, no end.
        }

        using (var agent = new AgentState(_state))
        {
            var stage = NewStage(agent);
            Assert.Equal(1, stage.RecoverOpenObjects(agent.Upstream));
            // The outbox still holds the first run's events (not yet confirmed); what this start added comes after them.
            var events = agent.Events().Where(e => e.Envelope.Sequence > lastBeforeCrash).ToList();
            var end = events.Single(e => e.ObjectId == objectId && e.Kind == ObjectEventKind.Ended);
            Assert.True(end.Recovered);
            Assert.DoesNotContain(events, e => e.Kind == ObjectEventKind.Started);
            Assert.True(end.Envelope.Sequence > objectId);
            Assert.Empty(new OpenObjectStore(_state).Open);

            // Ended once: a third start has nothing left to end.
            Assert.Equal(0, NewStage(agent).RecoverOpenObjects(agent.Upstream));
        }
    }

    [Fact]
    public void A_bad_scene_setting_stops_the_agent_at_start_and_names_its_path()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Agent:DeviceId"] = "pi-01",
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = _state,
            ["Agent:Source:Folder"] = Path.GetTempPath(),
            ["Agent:Scene:Mode"] = "MotionGated",
            ["Agent:Scene:Zones:0:Name"] = "entrance",
            ["Agent:Scene:Zones:0:Polygon:0"] = "1",
            ["Agent:Scene:Zones:0:Polygon:1"] = "2",
        };
        using var host = EdgeAgentHost.Build([], settings);
        var ex = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value);
        Assert.Contains("Agent:Scene:Zones:0:Polygon", ex.Message, StringComparison.Ordinal);

        settings.Remove("Agent:Scene:Zones:0:Name");
        settings.Remove("Agent:Scene:Zones:0:Polygon:0");
        settings.Remove("Agent:Scene:Zones:0:Polygon:1");
        using var good = EdgeAgentHost.Build([], settings);
        var options = good.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value;
        Assert.Equal(SceneMode.MotionGated, options.Scene.Mode);
        Assert.Equal(SceneMode.WholeFrame, new EdgeAgentOptions().Scene.Mode);
        Assert.False(new EdgeAgentOptions().ObjectEvents.Enabled);
    }

    private SceneStage NewStage(AgentState agent)
    {
        var settings = new SceneSettings
        {
            Mode = SceneMode.MotionGated,
            EventUpdateSeconds = 1,
            Lines = { new LineSettings { Name = "middle", From = [320, 480], To = [320, 0] } },
            Zones = { new ZoneSettings { Name = "right", Polygon = [400, 0, 640, 0, 640, 480, 400, 480] } },
        };
        return new SceneStage(settings.ToOptions("Agent:Scene"), new ObjectEventsOptions { Enabled = true }, new OpenObjectStore(agent.StateDirectory),
            TimeProvider.System, _detector.Model.InputWidth, _detector.Model.InputHeight);
    }

    private void Run(SceneStage stage, SceneStep step, Mat frame, int index, AgentState agent)
    {
        using (frame)
        {
            stage.Detect(frame, Start.AddMilliseconds(index * 100), _detector, step);
        }

        stage.Emit(step, agent.Upstream, _model);
    }

    public void Dispose()
    {
        _detector.Dispose();
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    /// <summary>An agent's state folder with its real sequence counter and outbox; reopened after a "crash".</summary>
    private sealed class AgentState : IDisposable
    {
        private readonly SequenceCounter _sequence;
        private readonly OutboxStore _outbox;

        public AgentState(string stateDirectory)
        {
            StateDirectory = stateDirectory;
            var options = new EdgeAgentOptions { DeviceId = DeviceId, StateDirectory = stateDirectory };
            _sequence = new SequenceCounter(stateDirectory);
            _outbox = new OutboxStore(Path.Combine(stateDirectory, "outbox"), new OutboxOptions(), TimeProvider.System);
            Upstream = new UpstreamWriter(options, _sequence, _outbox, TimeProvider.System);
        }

        public string DeviceId => "scene-01";

        public string StateDirectory { get; }

        public UpstreamWriter Upstream { get; }

        /// <summary>Every object event in the outbox not yet read, in order.</summary>
        public List<ObjectEventPublished> Events()
        {
            var events = new List<ObjectEventPublished>();
            while (_outbox.TryReadNext() is { } message)
            {
                if (message.Kind == Topics.ObjectEventsKind)
                {
                    events.Add(ObjectEventPublished.Parser.ParseFrom(message.Payload));
                }
            }

            return events;
        }

        public void Dispose()
        {
            _outbox.Dispose();
            _sequence.Dispose();
        }
    }
}

/// <summary>
/// Frames of a static camera: a paved, textured background with fresh sensor noise in every frame, and coco128's zebra
/// (000000000034, cut at its labelled box, 150 px high) walking from left to right at 8 px per frame.
/// </summary>
internal sealed class WalkerVideo : IDisposable
{
    private readonly Mat _background = new(480, 640, MatType.CV_8UC3);
    private readonly Mat _walker;

    public WalkerVideo()
    {
        for (var y = 0; y < 480; y += 16)
        {
            for (var x = 0; x < 640; x += 24)
            {
                var shade = 100 + ((x / 24) + (y / 16)) % 2 * 24 + x * 30 / 640;
                _background[new Rect(x, y, Math.Min(24, 640 - x), 16)].SetTo(new Scalar(shade - 6, shade, shade + 8));
            }
        }

        using var picture = Cv2.ImRead(Path.Combine(SharedData.Coco128Images, "000000000034.jpg"));
        // YOLO label: class 22 (zebra), centre (0.346, 0.493), size (0.689, 0.892).
        var box = new Rect(
            (int)((0.346 - 0.689 / 2) * picture.Width), (int)((0.493 - 0.892 / 2) * picture.Height), (int)(0.689 * picture.Width), (int)(0.892 * picture.Height));
        box = box.Intersect(new Rect(0, 0, picture.Width, picture.Height));
        using var cut = new Mat(picture, box);
        var height = 150;
        _walker = cut.Resize(new Size(box.Width * height / box.Height, height));
    }

    /// <summary>Frame <paramref name="index"/>; <paramref name="walker"/> is how many steps the walker has made (null: not in view).</summary>
    public Mat Frame(int index, int? walker)
    {
        _ = index;
        var frame = _background.Clone();
        if (walker is { } steps)
        {
            var x = 10 + steps * 8;
            var width = Math.Min(_walker.Width, 640 - x);
            if (width > 0)
            {
                _walker[new Rect(0, 0, width, _walker.Height)].CopyTo(frame[new Rect(x, 260, width, _walker.Height)]);
            }
        }

        using var noise = new Mat(frame.Size(), MatType.CV_16SC3);
        Cv2.Randn(noise, new Scalar(0, 0, 0), new Scalar(3, 3, 3));
        using var noisy = new Mat();
        frame.ConvertTo(noisy, MatType.CV_16SC3);
        Cv2.Add(noisy, noise, noisy);
        noisy.ConvertTo(frame, MatType.CV_8UC3);
        return frame;
    }

    public void Dispose()
    {
        _background.Dispose();
        _walker.Dispose();
    }
}
