using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Tests;

public sealed class SequenceTrackerTests
{
    [Fact]
    public void A_contiguous_stream_has_no_gaps_or_duplicates()
    {
        var tracker = Observe(1, 2, 3, 4, 5);
        Assert.Equal(5, tracker.Highest);
        Assert.Equal(0, tracker.Missing);
        Assert.Equal(0, tracker.Duplicates);
    }

    [Fact]
    public void A_device_first_seen_mid_stream_opens_no_gap()
    {
        Assert.Equal(0, Observe(1000, 1001).Missing);
    }

    [Fact]
    public void Skipped_numbers_are_missing_until_they_arrive_late()
    {
        var tracker = Observe(1, 2, 6);
        Assert.Equal(3, tracker.Missing);
        tracker.Observe(4);
        tracker.Observe(3);
        Assert.Equal(1, tracker.Missing);
        tracker.Observe(5);
        Assert.Equal(0, tracker.Missing);
        Assert.Equal(0, tracker.Duplicates);
    }

    [Fact]
    public void Repeats_are_duplicates_not_fills()
    {
        var tracker = Observe(1, 2, 3, 2, 3, 5, 5);
        Assert.Equal(3, tracker.Duplicates);
        Assert.Equal(1, tracker.Missing);
    }

    [Fact]
    public void An_early_overtaker_does_not_turn_older_numbers_into_duplicates()
    {
        // A hard frame (3) recorded before the batch holding frames 1 and 2 commits.
        var tracker = Observe(3, 1, 2);
        Assert.Equal(0, tracker.Missing);
        Assert.Equal(0, tracker.Duplicates);
    }

    [Fact]
    public void A_huge_hole_is_counted_without_remembering_every_number()
    {
        var tracker = Observe(1, 1_000_002);
        Assert.Equal(1_000_000, tracker.Missing);
        tracker.Observe(2);
        Assert.Equal(999_999, tracker.Missing);
    }

    private static SequenceTracker Observe(params long[] sequences)
    {
        var tracker = new SequenceTracker();
        foreach (var s in sequences)
        {
            tracker.Observe(s);
        }

        return tracker;
    }
}
