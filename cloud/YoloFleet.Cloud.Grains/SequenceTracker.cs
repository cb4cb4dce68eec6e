namespace YoloFleet.Cloud.Grains;

/// <summary>
/// Gap and duplicate accounting over one device's sequence numbers (one counter for all its topics). A number above
/// the highest seen opens a gap of the numbers skipped, which are remembered; a later arrival of a remembered number
/// fills it (late, or redelivered after a reconnect); any other repeat is a duplicate.
/// </summary>
public sealed class SequenceTracker
{
    /// <summary>Missing numbers remembered individually; beyond this a hole is only counted.</summary>
    public const int MaxTrackedMissing = 65_536;

    private readonly SortedSet<long> _missing = [];
    private long _lowest;
    private long _untrackedMissing;

    public long Highest { get; private set; }

    public long Observed { get; private set; }

    public long Duplicates { get; private set; }

    public long Missing => _missing.Count + _untrackedMissing;

    public void Observe(long sequence)
    {
        if (Observed == 0)
        {
            // The device may have started long before the cloud saw it: its first number opens no gap.
            _lowest = Highest = sequence;
        }
        else if (sequence > Highest)
        {
            RememberMissing(Highest + 1, sequence - 1);
            Highest = sequence;
        }
        else if (sequence < _lowest)
        {
            // Older than anything seen (batches and direct messages can overtake each other at start-up).
            RememberMissing(sequence + 1, _lowest - 1);
            _lowest = sequence;
        }
        else if (!_missing.Remove(sequence))
        {
            Duplicates++;
        }

        Observed++;
    }

    /// <summary>The tracker's whole state, for grain persistence.</summary>
    public SequenceTrackerState Save() => new()
    {
        Highest = Highest,
        Lowest = _lowest,
        Observed = Observed,
        Duplicates = Duplicates,
        UntrackedMissing = _untrackedMissing,
        Missing = [.. _missing],
    };

    /// <summary>A tracker continuing from a saved state.</summary>
    public static SequenceTracker Restore(SequenceTrackerState? state)
    {
        var tracker = new SequenceTracker();
        if (state is not null)
        {
            tracker.Highest = state.Highest;
            tracker._lowest = state.Lowest;
            tracker.Observed = state.Observed;
            tracker.Duplicates = state.Duplicates;
            tracker._untrackedMissing = state.UntrackedMissing;
            tracker._missing.UnionWith(state.Missing ?? []);
        }

        return tracker;
    }

    /// <summary>Duplicates found elsewhere (the database refused an already stored frame).</summary>
    public void CountDuplicates(long count) => Duplicates += count;

    private void RememberMissing(long from, long to)
    {
        for (var s = from; s <= to; s++)
        {
            if (_missing.Count >= MaxTrackedMissing)
            {
                _untrackedMissing += to - s + 1;
                return;
            }

            _missing.Add(s);
        }
    }
}

/// <summary>What a <see cref="SequenceTracker"/> must keep across grain activations.</summary>
[GenerateSerializer]
public sealed class SequenceTrackerState
{
    [Id(0)]
    public long Highest { get; set; }

    [Id(1)]
    public long Lowest { get; set; }

    [Id(2)]
    public long Observed { get; set; }

    [Id(3)]
    public long Duplicates { get; set; }

    [Id(4)]
    public long UntrackedMissing { get; set; }

    [Id(5)]
    public long[] Missing { get; set; } = [];
}
