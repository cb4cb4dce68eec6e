using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>The scene from frame bytes to events, with a stand-in detector (<see cref="SceneProbe"/>).</summary>
[Trait("Category", "Scene")]
public sealed class SceneAnalyzerTests
{
    [Fact]
    public void A_static_stretch_costs_only_keep_alives_and_a_walker_is_followed_counted_and_ended()
    {
        var counts = SceneProbe.Run();

        AssertProbe(counts);
    }

    [Fact]
    public void Whole_frame_mode_runs_the_detector_on_every_frame()
    {
        var options = new SceneOptions { Mode = SceneMode.WholeFrame };
        var scene = new SceneAnalyzer(options, 416, 416);
        var pixels = new byte[64 * 48 * 3];
        for (var i = 0; i < 20; i++)
        {
            var plan = scene.Plan(FrameView.Packed(pixels, 64, 48, FramePixelFormat.Bgr24), DateTimeOffset.UnixEpoch.AddSeconds(i));
            Assert.Equal((DetectionPlanKind.WholeFrame, DetectionReason.EveryFrame), (plan.Kind, plan.Reason));
            Assert.Equal([new PixelRect(0, 0, 64, 48)], plan.Regions);
            scene.Complete([]);
        }
    }

    [Fact]
    public void With_tiling_a_whole_frame_plan_is_tiles_and_then_the_frame()
    {
        var options = new SceneOptions { Mode = SceneMode.WholeFrame };
        options.Tiling.Enabled = true;
        var scene = new SceneAnalyzer(options, 416, 416);
        var pixels = new byte[1280 * 720];

        var plan = scene.Plan(FrameView.Packed(pixels, 1280, 720, FramePixelFormat.Gray8), DateTimeOffset.UnixEpoch);

        Assert.Equal(DetectionPlanKind.Tiles, plan.Kind);
        Assert.Equal(new PixelRect(0, 0, 1280, 720), plan.Regions[^1]);
        // 4 x 2 tiles of 416x416 (at least a quarter overlapping), then the frame.
        Assert.Equal(4 * 2 + 1, plan.Regions.Count);
    }

    [Fact]
    public void Stop_ends_every_object_and_calls_out_of_order_are_refused()
    {
        var scene = new SceneAnalyzer(new SceneOptions { Mode = SceneMode.WholeFrame }, 416, 416);
        var pixels = new byte[320 * 240 * 3];
        var start = DateTimeOffset.UnixEpoch;
        for (var i = 0; i < 5; i++)
        {
            scene.Plan(FrameView.Packed(pixels, 320, 240, FramePixelFormat.Bgr24), start.AddSeconds(i * 0.1));
            scene.Complete([new Detection(0, 0.9f, 100, 100, 130, 180)]);
        }

        Assert.Throws<InvalidOperationException>(() => scene.Complete([]));
        scene.Plan(FrameView.Packed(pixels, 320, 240, FramePixelFormat.Bgr24), start.AddSeconds(1));
        Assert.Throws<InvalidOperationException>(() => scene.Plan(FrameView.Packed(pixels, 320, 240, FramePixelFormat.Bgr24), start.AddSeconds(2)));
        Assert.Throws<InvalidOperationException>(() => scene.Stop());
        scene.Complete([new Detection(0, 0.9f, 100, 100, 130, 180)]);

        var stopped = scene.Stop();
        var end = Assert.Single(stopped.Events);
        Assert.Equal(ObjectEventKind.Ended, end.Kind);
        Assert.Equal(0, scene.TrackCount);
        Assert.Throws<ArgumentException>(() => scene.Plan(FrameView.Packed(pixels, 320, 240, FramePixelFormat.Bgr24), start));
    }

    /// <summary>What <see cref="SceneProbe.Run"/> must give, wherever it runs.</summary>
    internal static void AssertProbe(IReadOnlyDictionary<string, int> counts)
    {
        int Count(string key) => counts.TryGetValue(key, out var value) ? value : 0;

        // 15 s static: the first frame and one keep-alive 10 s later; nothing else runs.
        Assert.Equal(2, Count("static.runs"));
        Assert.Equal(SceneProbe.WalkStart - 2, Count("static.Skip"));

        // 10 s of walking at 10 frames per second: the detector on about every second frame, on a region (the 320x240
        // frame is smaller than the 416x416 input, so the region is the whole frame).
        Assert.InRange(Count("walking.runs"), 45, 60);
        Assert.InRange(Count("walking.tracked"), 90, 100);

        // One object: started, ended (it vanished), its zone visit closed, its line crossing counted.
        Assert.Equal(1, Count("tracks"));
        Assert.Equal(1, Count("event.Started"));
        Assert.Equal(1, Count("event.Ended"));
        Assert.Equal(1, Count("zone.right.Entered"));
        Assert.Equal(1, Count("zone.right.Exited"));
        Assert.Equal(1, Count("line.middle.RightToLeft"));
        Assert.Equal((1, 1, 1), (Count("ended.zones"), Count("ended.lines"), Count("ended.hasCrop")));
        Assert.InRange(Count("crops"), 1, 5);

        // After it vanished, the detector looked a few times to lose it, then went quiet.
        Assert.InRange(Count("after.runs"), 1, 15);
    }
}
