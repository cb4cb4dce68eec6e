using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts;

/// <summary>
/// A set of one device's sequence numbers kept as sorted, disjoint, non-adjacent inclusive ranges: what the cloud has
/// settled but not yet confirmed, what a device has confirmed out of order, which gaps are open. Devices number their
/// messages consecutively, so a set of thousands of numbers is usually one range, and adding the next number is O(1).
/// Not thread-safe.
/// </summary>
public sealed class SequenceRangeSet
{
    private readonly List<(ulong First, ulong Last)> _ranges = [];

    /// <summary>How many numbers the set holds.</summary>
    public ulong Count { get; private set; }

    /// <summary>How many ranges hold them.</summary>
    public int RangeCount => _ranges.Count;

    public bool IsEmpty => _ranges.Count == 0;

    /// <summary>The ranges in ascending order.</summary>
    public IReadOnlyList<(ulong First, ulong Last)> Ranges => _ranges;

    /// <summary>The smallest number held; 0 when empty.</summary>
    public ulong Min => _ranges.Count > 0 ? _ranges[0].First : 0;

    /// <summary>The largest number held; 0 when empty.</summary>
    public ulong Max => _ranges.Count > 0 ? _ranges[^1].Last : 0;

    public void Add(ulong sequence) => Add(sequence, sequence);

    /// <summary>Adds every number of <c>[first, last]</c>; returns how many were not in the set before.</summary>
    public ulong Add(ulong first, ulong last)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, last);

        // The common case: the next number after the last range.
        if (_ranges.Count == 0 || first > _ranges[^1].Last)
        {
            if (_ranges.Count > 0 && _ranges[^1].Last != ulong.MaxValue && first == _ranges[^1].Last + 1)
            {
                _ranges[^1] = (_ranges[^1].First, last);
            }
            else
            {
                _ranges.Add((first, last));
            }

            var added = last - first + 1;
            Count += added;
            return added;
        }

        // Ranges that overlap or touch [first, last] are merged into one.
        var start = FirstEndingAtOrAfter(first == 0 ? 0 : first - 1);
        var end = start;
        var newFirst = first;
        var newLast = last;
        ulong covered = 0;
        while (end < _ranges.Count && (last == ulong.MaxValue || _ranges[end].First <= last + 1))
        {
            var (f, l) = _ranges[end];
            covered += Overlap(f, l, first, last);
            newFirst = Math.Min(newFirst, f);
            newLast = Math.Max(newLast, l);
            end++;
        }

        var fresh = last - first + 1 - covered;
        if (end == start)
        {
            _ranges.Insert(start, (first, last));
        }
        else
        {
            _ranges[start] = (newFirst, newLast);
            _ranges.RemoveRange(start + 1, end - start - 1);
        }

        Count += fresh;
        return fresh;
    }

    public bool Contains(ulong sequence)
    {
        var index = FirstEndingAtOrAfter(sequence);
        return index < _ranges.Count && _ranges[index].First <= sequence;
    }

    /// <summary>Removes every number of <c>[first, last]</c>; returns how many were in the set.</summary>
    public ulong Remove(ulong first, ulong last)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, last);
        ulong removed = 0;
        var index = FirstEndingAtOrAfter(first);
        while (index < _ranges.Count && _ranges[index].First <= last)
        {
            var (f, l) = _ranges[index];
            removed += Overlap(f, l, first, last);
            var keepLeft = f < first;
            var keepRight = l > last;
            if (keepLeft && keepRight)
            {
                _ranges[index] = (f, first - 1);
                _ranges.Insert(index + 1, (last + 1, l));
                break;
            }

            if (keepLeft)
            {
                _ranges[index] = (f, first - 1);
                index++;
            }
            else if (keepRight)
            {
                _ranges[index] = (last + 1, l);
                break;
            }
            else
            {
                _ranges.RemoveAt(index);
            }
        }

        Count -= removed;
        return removed;
    }

    /// <summary>Removes every number up to and including <paramref name="sequence"/>.</summary>
    public ulong RemoveUpTo(ulong sequence) => IsEmpty || Min > sequence ? 0 : Remove(0, sequence);

    /// <summary>The numbers of <c>[first, last]</c> that the set holds, as ranges.</summary>
    public IEnumerable<(ulong First, ulong Last)> Within(ulong first, ulong last)
    {
        for (var index = FirstEndingAtOrAfter(first); index < _ranges.Count && _ranges[index].First <= last; index++)
        {
            var (f, l) = _ranges[index];
            yield return (Math.Max(f, first), Math.Min(l, last));
        }
    }

    public void Clear()
    {
        _ranges.Clear();
        Count = 0;
    }

    /// <summary>The first <paramref name="max"/> ranges as protocol ranges.</summary>
    public IEnumerable<SequenceRange> ToProto(int max = int.MaxValue) =>
        _ranges.Take(max).Select(r => new SequenceRange { First = r.First, Last = r.Last });

    /// <summary>Index of the first range whose last number is ≥ <paramref name="sequence"/> (Count when none).</summary>
    private int FirstEndingAtOrAfter(ulong sequence)
    {
        int low = 0, high = _ranges.Count;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (_ranges[mid].Last < sequence)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    private static ulong Overlap(ulong f1, ulong l1, ulong f2, ulong l2)
    {
        var f = Math.Max(f1, f2);
        var l = Math.Min(l1, l2);
        return f <= l ? l - f + 1 : 0;
    }
}
