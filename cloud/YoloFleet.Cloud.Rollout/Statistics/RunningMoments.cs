namespace YoloFleet.Cloud.Rollout.Statistics;

/// <summary>
/// Count, mean and variance of a stream, updated one value at a time (Welford's method: stable in double, no stored
/// values), and mergeable, so per-interval summaries from several silos add up to the same figures.
/// </summary>
public readonly record struct RunningMoments(long Count, double Mean, double SumOfSquares)
{
    /// <summary>The unbiased sample variance; 0 below two values.</summary>
    public double Variance => Count > 1 ? SumOfSquares / (Count - 1) : 0;

    public RunningMoments Add(double value)
    {
        var count = Count + 1;
        var delta = value - Mean;
        var mean = Mean + (delta / count);
        return new RunningMoments(count, mean, SumOfSquares + (delta * (value - mean)));
    }

    /// <summary>The moments of both streams together (Chan et al.'s parallel formula).</summary>
    public RunningMoments Merge(RunningMoments other)
    {
        if (other.Count == 0)
        {
            return this;
        }

        if (Count == 0)
        {
            return other;
        }

        var count = Count + other.Count;
        var delta = other.Mean - Mean;
        var mean = Mean + (delta * other.Count / count);
        var sumOfSquares = SumOfSquares + other.SumOfSquares + (delta * delta * Count * other.Count / count);
        return new RunningMoments(count, mean, sumOfSquares);
    }
}
