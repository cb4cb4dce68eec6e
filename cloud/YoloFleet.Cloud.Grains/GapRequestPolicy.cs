namespace YoloFleet.Cloud.Grains;

/// <summary>When a device grain asks its device to send open gaps again (Cloud:Delivery; see docs/protocol.md).</summary>
/// <param name="RequestAfter">How long a gap stays open before the device is asked for it; zero turns requests off.</param>
/// <param name="MaxInterval">The longest wait between two requests to one device while gaps stay open (the back-off's cap).</param>
public sealed record GapRequestOptions(TimeSpan RequestAfter, TimeSpan MaxInterval)
{
    /// <summary>Ranges in one request; the rest wait for the next.</summary>
    public const int MaxRangesPerRequest = 64;

    public bool Enabled => RequestAfter > TimeSpan.Zero;

    /// <summary>How often a grain looks at its gaps: often enough that a gap is asked for soon after it is due.</summary>
    public TimeSpan CheckEvery => TimeSpan.FromTicks(Math.Clamp(RequestAfter.Ticks / 3, TimeSpan.TicksPerSecond, 10 * TimeSpan.TicksPerSecond));
}

/// <summary>
/// One device's gap-request schedule: remembers since when each open gap has been open, says which are old enough to ask
/// for, and spaces the requests out: the first waits <see cref="GapRequestOptions.RequestAfter"/>, each further one while
/// gaps stay open twice as long as the one before, up to <see cref="GapRequestOptions.MaxInterval"/>. Once nothing old
/// is open any more, the back-off starts again. Gaps come and go as messages arrive out of order (two silos, batches),
/// so a gap is asked for only once it has been open a while. Not persisted: after a reactivation every gap counts as
/// opened then, which can only delay a request.
/// </summary>
public sealed class GapRequestPolicy(GapRequestOptions options)
{
    private List<(long First, long Last, DateTimeOffset Since)> _gaps = [];
    private TimeSpan _interval = options.RequestAfter;
    private DateTimeOffset _nextAllowed = DateTimeOffset.MinValue;

    /// <summary>Requests made since activation.</summary>
    public long Requests { get; private set; }

    public DateTimeOffset? LastRequestAt { get; private set; }

    /// <summary>When the next request may go, while gaps are due; null when none is due.</summary>
    public DateTimeOffset? NextRequestAt { get; private set; }

    /// <summary>The open gaps as last seen, each with the time it was first seen open.</summary>
    public IReadOnlyList<(long First, long Last, DateTimeOffset Since)> Gaps => _gaps;

    /// <summary>
    /// Takes the gaps open now (ascending ranges) and returns those to ask for now: open for at least
    /// <see cref="GapRequestOptions.RequestAfter"/>, when the back-off allows a request. Empty otherwise.
    /// </summary>
    public List<(long First, long Last)> Due(IReadOnlyList<(long First, long Last)> open, DateTimeOffset now)
    {
        Update(open, now);
        var due = new List<(long First, long Last)>();
        if (!options.Enabled)
        {
            return due;
        }

        var openedBy = now - options.RequestAfter;
        foreach (var (first, last, since) in _gaps)
        {
            if (since <= openedBy)
            {
                due.Add((first, last));
            }
        }

        if (due.Count == 0)
        {
            // Nothing is overdue: the next gap starts from the first interval again.
            _interval = options.RequestAfter;
            _nextAllowed = DateTimeOffset.MinValue;
            NextRequestAt = null;
            return due;
        }

        NextRequestAt = _nextAllowed > now ? _nextAllowed : now;
        if (now < _nextAllowed)
        {
            due.Clear();
            return due;
        }

        return Merge(due, GapRequestOptions.MaxRangesPerRequest);
    }

    /// <summary>Takes the gaps open now (ascending ranges): each keeps the time it was first seen open.</summary>
    public IReadOnlyList<(long First, long Last, DateTimeOffset Since)> Update(IReadOnlyList<(long First, long Last)> open, DateTimeOffset now)
    {
        _gaps = Reconcile(_gaps, open, now);
        return _gaps;
    }

    /// <summary>A request went out (or was attempted): the next waits the current interval, and the interval doubles.</summary>
    public void Requested(DateTimeOffset now)
    {
        Requests++;
        LastRequestAt = now;
        _nextAllowed = now + _interval;
        NextRequestAt = _nextAllowed;
        var doubled = _interval + _interval;
        _interval = doubled < options.MaxInterval ? doubled : options.MaxInterval;
    }

    /// <summary>
    /// The open ranges, each part keeping the time it was first seen open: covered by a gap seen before, that gap's time;
    /// new, <paramref name="now"/>.
    /// </summary>
    public static List<(long First, long Last, DateTimeOffset Since)> Reconcile(
        List<(long First, long Last, DateTimeOffset Since)> before, IReadOnlyList<(long First, long Last)> open, DateTimeOffset now)
    {
        var result = new List<(long First, long Last, DateTimeOffset Since)>(open.Count);
        var k = 0;
        foreach (var (first, last) in open)
        {
            var cursor = first;
            while (cursor <= last)
            {
                while (k < before.Count && before[k].Last < cursor)
                {
                    k++;
                }

                long end;
                if (k < before.Count && before[k].First <= last)
                {
                    if (before[k].First > cursor)
                    {
                        Add(result, cursor, before[k].First - 1, now);
                        cursor = before[k].First;
                    }

                    end = Math.Min(before[k].Last, last);
                    Add(result, cursor, end, before[k].Since);
                }
                else
                {
                    end = last;
                    Add(result, cursor, end, now);
                }

                if (end == long.MaxValue)
                {
                    break;
                }

                cursor = end + 1;
            }
        }

        return result;
    }

    private static void Add(List<(long First, long Last, DateTimeOffset Since)> gaps, long first, long last, DateTimeOffset since)
    {
        if (gaps.Count > 0 && gaps[^1].Last == first - 1 && gaps[^1].Since == since)
        {
            gaps[^1] = (gaps[^1].First, last, since);
        }
        else
        {
            gaps.Add((first, last, since));
        }
    }

    private static List<(long First, long Last)> Merge(List<(long First, long Last)> ranges, int max)
    {
        var merged = new List<(long First, long Last)>();
        foreach (var (first, last) in ranges)
        {
            if (merged.Count > 0 && merged[^1].Last == first - 1)
            {
                merged[^1] = (merged[^1].First, last);
            }
            else if (merged.Count == max)
            {
                break;
            }
            else
            {
                merged.Add((first, last));
            }
        }

        return merged;
    }
}
