using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Tests;

/// <summary>The sequence accounting survives a save and restore (what grain persistence does across activations).</summary>
public sealed class DeviceStateTests
{
    [Fact]
    public void A_restored_tracker_continues_where_the_saved_one_stopped()
    {
        var tracker = new SequenceTracker();
        foreach (var s in new long[] { 5, 6, 9, 6 })
        {
            tracker.Observe(s);
        }

        Assert.Equal((9L, 2L, 1L), (tracker.Highest, tracker.Missing, tracker.Duplicates));

        var restored = SequenceTracker.Restore(tracker.Save());
        Assert.Equal((tracker.Highest, tracker.Missing, tracker.Duplicates, tracker.Observed), (restored.Highest, restored.Missing, restored.Duplicates, restored.Observed));

        // 7 fills a remembered gap, 5 is a duplicate, 3 is older than anything seen and opens the gap 4.
        restored.Observe(7);
        restored.Observe(5);
        restored.Observe(3);
        Assert.Equal((9L, 2L, 2L), (restored.Highest, restored.Missing, restored.Duplicates));
    }

    [Fact]
    public void Restoring_nothing_gives_a_fresh_tracker()
    {
        var fresh = SequenceTracker.Restore(null);
        Assert.Equal((0L, 0L, 0L), (fresh.Highest, fresh.Observed, fresh.Missing));
    }
}
