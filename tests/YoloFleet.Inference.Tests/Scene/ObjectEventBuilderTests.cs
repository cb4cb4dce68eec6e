using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>Object events from a real tracker fed with hand-made detections.</summary>
[Trait("Category", "Scene")]
public sealed class ObjectEventBuilderTests
{
    private const int Width = 640;
    private const int Height = 480;
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 14, 3, 0, TimeSpan.Zero);

    [Fact]
    public void An_object_starts_updates_at_most_once_per_interval_and_ends_with_its_zones_lines_and_best_picture()
    {
        var zones = new ZoneOptions();
        zones.Zones.Add(new SceneZone("middle", FramePolygon.FromCoordinates([250, 0, 390, 0, 390, 480, 250, 480])));
        zones.Lines.Add(new CountingLine("half", new FramePoint(320, 480), new FramePoint(320, 0)));
        var tracker = new ByteTracker(new TrackerOptions());
        var monitor = new ZoneMonitor(zones);
        var builder = new ObjectEventBuilder(new ObjectEventOptions { UpdateInterval = TimeSpan.FromSeconds(2) });
        var events = new List<ObjectEvent>();
        var crops = new List<CropRequest>();
        var frame = new PixelRect(0, 0, Width, Height);

        // A person walks from the left edge to x = 600 in 100 frames (10 s); the score peaks at frame 50.
        for (var i = 0; i < 100; i++)
        {
            var x = i * 6f;
            var score = 0.5f + 0.4f * (1 - Math.Abs(i - 50) / 50f);
            var detection = new Detection(0, score, x, 200, x + 30, 280);
            Step(i, [detection], [frame]);
        }

        // Then nothing is detected there any more: lost, and ended after MaxLostSeconds.
        for (var i = 100; i < 130; i++)
        {
            Step(i, [], [frame]);
        }

        Assert.Equal(ObjectEventKind.Started, events[0].Kind);
        Assert.Equal(ObjectEventKind.Ended, events[^1].Kind);
        Assert.All(events, item => Assert.Equal(events[0].TrackId, item.TrackId));
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(item => item.Revision));
        var updates = events.Where(item => item.Kind == ObjectEventKind.Updated).ToList();
        Assert.InRange(updates.Count, 3, 5);
        for (var i = 1; i < events.Count; i++)
        {
            if (events[i].Kind == ObjectEventKind.Updated)
            {
                Assert.True(events[i].At - events[i - 1].At >= TimeSpan.FromSeconds(2), "updates come at most every 2 s");
            }
        }

        var end = events[^1];
        Assert.Equal(Start, end.FirstSeen);
        Assert.Equal(At(99), end.LastSeen);
        Assert.Equal(0.9f, end.BestScore, 3);
        var visit = Assert.Single(end.Zones);
        Assert.Equal("middle", visit.Zone);
        Assert.NotNull(visit.Exited);
        Assert.InRange((visit.Exited.Value - visit.Entered).TotalSeconds, 2.0, 2.6);
        var crossing = Assert.Single(end.Lines);
        // The line points up the image, so its right-hand side is the larger x: walking right is left to right.
        Assert.Equal(("half", CrossingDirection.LeftToRight), (crossing.Line, crossing.Direction));

        // The best picture is the best-scoring detection: frame 50, its box; the caller was asked to crop it then.
        var best = Assert.IsType<BestCrop>(end.BestCrop);
        Assert.Equal(50, best.FrameIndex);
        Assert.Equal(new PixelRect(300, 200, 30, 80), best.Box);
        Assert.Contains(crops, crop => crop.Crop == best);
        Assert.True(crops.Count < 20, $"{crops.Count} crop requests: they come only when the score improves enough");

        void Step(int index, Detection[] detections, PixelRect[] observed)
        {
            var update = tracker.Step(At(index), Width, Height, detections, observed);
            var found = monitor.Update(At(index), update.Visible, update.Ended);
            builder.Update(index, At(index), Width, Height, update, found, events, crops);
        }
    }

    [Fact]
    public void A_picture_at_the_frame_edge_gives_way_to_one_inside_even_if_it_scores_less()
    {
        var tracker = new ByteTracker(new TrackerOptions());
        var builder = new ObjectEventBuilder(new ObjectEventOptions());
        var monitor = new ZoneMonitor(new ZoneOptions());
        var events = new List<ObjectEvent>();
        var crops = new List<CropRequest>();
        var frame = new PixelRect(0, 0, Width, Height);

        // Half out of the frame and confident, then wholly inside and less so.
        Detection[] edge = [new Detection(0, 0.95f, 0, 200, 20, 280)];
        Detection[] inside = [new Detection(0, 0.7f, 8, 200, 38, 280)];
        for (var i = 0; i < 6; i++)
        {
            var update = tracker.Step(At(i), Width, Height, i < 3 ? edge : inside, [frame]);
            builder.Update(i, At(i), Width, Height, update, monitor.Update(At(i), update.Visible, update.Ended), events, crops);
        }

        var stopped = tracker.EndAll();
        builder.Update(6, At(6), Width, Height, stopped, monitor.Update(At(6), stopped.Visible, stopped.Ended), events, crops);

        var end = events[^1];
        Assert.Equal(ObjectEventKind.Ended, end.Kind);
        Assert.Equal(new PixelRect(8, 200, 30, 80), end.BestCrop!.Value.Box);
        Assert.Equal(0.95f, end.BestScore);
    }

    private static DateTimeOffset At(int frame) => Start + TimeSpan.FromMilliseconds(100 * frame);
}
