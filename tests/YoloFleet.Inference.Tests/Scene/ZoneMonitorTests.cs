using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>Zone entries, exits and dwell, and line crossings with direction, from hand-made track boxes.</summary>
[Trait("Category", "Scene")]
public sealed class ZoneMonitorTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 14, 3, 0, TimeSpan.Zero);

    [Fact]
    public void A_walk_through_a_zone_is_one_entry_and_one_exit_with_its_dwell_even_with_jitter_at_the_border()
    {
        var options = new ZoneOptions();
        options.Zones.Add(new SceneZone("door", FramePolygon.FromCoordinates([200, 100, 300, 100, 300, 300, 200, 300])));
        var monitor = new ZoneMonitor(options);
        var events = new List<ZoneEvent>();
        var random = new Random(5);

        // The feet (bottom centre) walk right 4 px per frame along y = 200, from x = 150 to 350, with 3 px of jitter.
        for (var i = 0; i <= 50; i++)
        {
            var x = 150 + 4 * i + (float)(random.NextDouble() * 6 - 3);
            events.AddRange(monitor.Update(At(i), [Person(1, x, 200)], []).ZoneEvents);
        }

        Assert.Collection(
            events,
            entry => Assert.Equal((ZoneTransition.Entered, "door", 1L), (entry.Transition, entry.Zone, entry.TrackId)),
            exit =>
            {
                Assert.Equal(ZoneTransition.Exited, exit.Transition);
                Assert.False(exit.TrackEnded);
                // In from about frame 13 (x = 202 + the 4 px hysteresis) to about frame 38 (x = 302 + 4): 2.5 s.
                Assert.InRange(exit.Dwell.TotalSeconds, 2.2, 2.8);
            });

        // Standing on the border and jittering by 3 px (less than the hysteresis) adds nothing.
        for (var i = 51; i < 120; i++)
        {
            var x = 300 + (float)(random.NextDouble() * 6 - 3);
            Assert.Empty(monitor.Update(At(i), [Person(1, x, 200)], []).ZoneEvents);
        }
    }

    [Fact]
    public void An_object_seen_first_inside_enters_at_once_and_leaves_when_its_track_ends()
    {
        var options = new ZoneOptions();
        options.Zones.Add(new SceneZone("counter", FramePolygon.FromCoordinates([0, 0, 100, 0, 100, 100, 0, 100])));
        options.Zones.Add(new SceneZone("elsewhere", FramePolygon.FromCoordinates([400, 400, 500, 400, 500, 500])));
        var monitor = new ZoneMonitor(options);

        var first = monitor.Update(At(0), [Person(7, 50, 50)], []);
        Assert.Equal((ZoneTransition.Entered, "counter"), (Assert.Single(first.ZoneEvents).Transition, first.ZoneEvents[0].Zone));
        Assert.Equal(1, monitor.Occupancy("counter"));

        for (var i = 1; i < 40; i++)
        {
            Assert.Empty(monitor.Update(At(i), [Person(7, 50, 50)], []).ZoneEvents);
        }

        var ended = Person(7, 50, 50) with { LastSeen = At(39) };
        var last = monitor.Update(At(60), [], [ended]);
        var exit = Assert.Single(last.ZoneEvents);
        Assert.True(exit.TrackEnded);
        Assert.Equal(At(39), exit.At);
        Assert.Equal(TimeSpan.FromSeconds(3.9), exit.Dwell);
        Assert.Equal(0, monitor.Occupancy("counter"));
    }

    [Fact]
    public void Line_crossings_are_counted_once_each_way_and_never_for_jitter_or_a_pass_beyond_the_line_end()
    {
        var options = new ZoneOptions();
        // A vertical line from (300, 100) down to (300, 400). Walking from From to To (downwards on the image), the
        // right-hand side is the smaller x: so left to right is from x > 300 to x < 300.
        options.Lines.Add(new CountingLine("gate", new FramePoint(300, 100), new FramePoint(300, 400)));
        var monitor = new ZoneMonitor(options);
        var crossings = new List<LineCrossing>();
        var random = new Random(9);
        var frame = 0;

        void Walk(long track, float fromX, float toX, float y, int steps)
        {
            for (var i = 0; i <= steps; i++)
            {
                var x = fromX + (toX - fromX) * i / steps + (float)(random.NextDouble() * 4 - 2);
                crossings.AddRange(monitor.Update(At(frame++), [Person(track, x, y)], []).Crossings);
            }
        }

        Walk(1, 200, 400, 250, 40);     // across, to larger x: right to left
        Walk(1, 400, 200, 250, 40);     // and back: left to right
        Walk(2, 300, 300, 250, 60);     // standing on the line, jittering within the 4 px hysteresis: nothing
        Walk(3, 200, 400, 450, 40);     // across the line's extension below its end: nothing
        Walk(4, 450, 150, 300, 10);     // fast, 30 px per frame: still once

        Assert.Equal(
            [(1L, CrossingDirection.RightToLeft), (1L, CrossingDirection.LeftToRight), (4L, CrossingDirection.LeftToRight)],
            crossings.Select(crossing => (crossing.TrackId, crossing.Direction)));
        Assert.All(crossings, crossing => Assert.Equal("gate", crossing.Line));
    }

    [Fact]
    public void Unconfirmed_tracks_count_nowhere()
    {
        var options = new ZoneOptions();
        options.Zones.Add(new SceneZone("all", FramePolygon.FromCoordinates([0, 0, 640, 0, 640, 480, 0, 480])));
        var monitor = new ZoneMonitor(options);

        var update = monitor.Update(At(0), [Person(3, 100, 100) with { Status = TrackStatus.Tentative }], []);

        Assert.Empty(update.ZoneEvents);
        Assert.Equal(0, monitor.Occupancy("all"));
    }

    [Fact]
    public void Zone_and_line_settings_are_checked()
    {
        var options = new ZoneOptions();
        options.Zones.Add(new SceneZone("a", FramePolygon.FromCoordinates([0, 0, 1, 0, 1, 1])));
        options.Zones.Add(new SceneZone("a", FramePolygon.FromCoordinates([0, 0, 2, 0, 2, 2])));
        Assert.Contains("'a'", Assert.Throws<ArgumentException>(() => new ZoneMonitor(options)).Message);
        Assert.Throws<ArgumentException>(() => FramePolygon.FromCoordinates([0, 0, 1, 1]));
        Assert.Throws<ArgumentException>(() => new CountingLine("x", new FramePoint(1, 1), new FramePoint(1, 1)));
    }

    /// <summary>A confirmed person 30x80 whose feet (bottom centre) are at (x, y).</summary>
    private static TrackedObject Person(long id, float x, float y) =>
        new(id, 0, 0.8f, x - 15, y - 80, x + 15, y, TrackStatus.Tracked, true, Start, Start);

    private static DateTimeOffset At(int frame) => Start + TimeSpan.FromMilliseconds(100 * frame);
}
