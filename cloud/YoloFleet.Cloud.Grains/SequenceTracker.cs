namespace YoloFleet.Cloud.Grains;

/// <summary>
/// Gap and duplicate accounting over one device's sequence numbers (one counter for all its topics). A number above
/// the highest seen opens a gap of the numbers skipped, which are remembered; a later arrival of a remembered number
/// fills it (late, or redelivered after a reconnect); any other repeat is a duplicate. A device's report that it dropped
/// numbers (<see cref="Account"/>) closes them as accounted: neither missing nor seen.
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

    /// <summary>Numbers closed by the device's drop reports (<see cref="Account"/>) rather than by a message.</summary>
    public long Accounted { get; private set; }

    private bool IsEmpty => Observed == 0 && Accounted == 0;

    public void Observe(long sequence)
    {
        if (IsEmpty)
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

    /// <summary>
    /// Closes <c>[first, last]</c> as accounted for: the device reported it will never deliver these numbers. Gaps among
    /// them close; numbers beyond what was seen widen the known span without opening gaps of their own. Returns how many
    /// numbers were accounted for that had not been seen.
    /// </summary>
    public long Account(long first, long last)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(first, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, last);
        long closed;
        if (IsEmpty)
        {
            _lowest = first;
            Highest = last;
            closed = last - first + 1;
        }
        else
        {
            // Inside the span seen so far: the gaps among them close.
            closed = Close(first, last);
            if (last > Highest)
            {
                var from = Math.Max(first, Highest + 1);
                RememberMissing(Highest + 1, from - 1);
                closed += last - from + 1;
                Highest = last;
            }

            if (first < _lowest)
            {
                var to = Math.Min(last, _lowest - 1);
                RememberMissing(to + 1, _lowest - 1);
                closed += to - first + 1;
                _lowest = first;
            }
        }

        Accounted += closed;
        return closed;
    }

    /// <summary>Closes the gaps among <c>[first, last]</c> (the numbers turned out to be stored); returns how many closed.</summary>
    public long Close(long first, long last)
    {
        if (first > last || _missing.Count == 0)
        {
            return 0;
        }

        var found = _missing.GetViewBetween(first, last).ToArray();
        foreach (var sequence in found)
        {
            _missing.Remove(sequence);
        }

        return found.Length;
    }

    /// <summary>The remembered gaps as ascending inclusive ranges, at most <paramref name="maxRanges"/> of them.</summary>
    public List<(long First, long Last)> MissingRanges(int maxRanges = int.MaxValue)
    {
        var ranges = new List<(long First, long Last)>();
        foreach (var sequence in _missing)
        {
            if (ranges.Count > 0 && ranges[^1].Last == sequence - 1)
            {
                ranges[^1] = (ranges[^1].First, sequence);
            }
            else if (ranges.Count == maxRanges)
            {
                break;
            }
            else
            {
                ranges.Add((sequence, sequence));
            }
        }

        return ranges;
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
        Accounted = Accounted,
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
            tracker.Accounted = state.Accounted;
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

    [Id(6)]
    public long Accounted { get; set; }
}
