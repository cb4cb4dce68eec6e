namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// A lock-free latency histogram with fixed, exponentially spaced buckets (25 % apart, 1 ms to about 2 minutes), so
/// histograms from several silos and several moments can be added and subtracted bucket by bucket. Percentiles are
/// read as the upper bound of the bucket that holds them: at most 25 % high, never low.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Upper bounds in milliseconds; the last bucket also takes everything above.</summary>
    public static readonly IReadOnlyList<double> UpperBoundsMs = BuildBounds();

    private readonly long[] _counts = new long[UpperBoundsMs.Count];

    public void Record(double milliseconds)
    {
        var index = BucketOf(milliseconds);
        Interlocked.Increment(ref _counts[index]);
    }

    public long[] Snapshot()
    {
        var copy = new long[_counts.Length];
        for (var i = 0; i < copy.Length; i++)
        {
            copy[i] = Interlocked.Read(ref _counts[i]);
        }

        return copy;
    }

    /// <summary>The latency below which <paramref name="quantile"/> of the samples fall (bucket upper bound); null when empty.</summary>
    public static double? Percentile(IReadOnlyList<long> counts, double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(counts.Count, UpperBoundsMs.Count);
        var total = counts.Sum();
        if (total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(quantile * total);
        long seen = 0;
        for (var i = 0; i < counts.Count; i++)
        {
            seen += counts[i];
            if (seen >= rank && counts[i] > 0)
            {
                return UpperBoundsMs[i];
            }
        }

        return UpperBoundsMs[^1];
    }

    internal static int BucketOf(double milliseconds)
    {
        if (!(milliseconds > 1.0))
        {
            return 0; // Also NaN and clock skew that makes a latency negative.
        }

        var index = (int)Math.Ceiling(Math.Log(milliseconds) / Math.Log(1.25));
        return Math.Min(index, UpperBoundsMs.Count - 1);
    }

    private static double[] BuildBounds()
    {
        var bounds = new double[54];
        for (var i = 0; i < bounds.Length; i++)
        {
            bounds[i] = Math.Pow(1.25, i);
        }

        return bounds;
    }
}
