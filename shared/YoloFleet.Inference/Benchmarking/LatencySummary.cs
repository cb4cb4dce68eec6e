namespace YoloFleet.Inference.Benchmarking;

/// <summary>Percentiles and mean of a set of latencies, in milliseconds.</summary>
public readonly record struct LatencySummary(double P50, double P95, double P99, double Mean, double Min, double Max)
{
    /// <summary>
    /// Summarises <paramref name="samples"/>. Percentiles interpolate linearly between the two nearest ranks (numpy's
    /// default), so they are ordered P50 ≤ P95 ≤ P99 and lie between Min and Max.
    /// </summary>
    public static LatencySummary Of(ReadOnlySpan<double> samples)
    {
        if (samples.IsEmpty)
        {
            return default;
        }

        var sorted = samples.ToArray();
        Array.Sort(sorted);
        var sum = 0.0;
        foreach (var sample in sorted)
        {
            sum += sample;
        }

        return new LatencySummary(
            Percentile(sorted, 0.50), Percentile(sorted, 0.95), Percentile(sorted, 0.99), sum / sorted.Length, sorted[0], sorted[^1]);
    }

    /// <summary>The <paramref name="fraction"/> quantile of already sorted values.</summary>
    internal static double Percentile(double[] sorted, double fraction)
    {
        var rank = fraction * (sorted.Length - 1);
        var below = (int)Math.Floor(rank);
        var above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
    }
}
