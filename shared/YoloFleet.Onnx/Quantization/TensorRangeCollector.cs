namespace YoloFleet.Onnx.Quantization;

/// <summary>How activation ranges are chosen from the calibration data.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen.</summary>
    MinMax,

    /// <summary>Clip |x| at a percentile of its distribution (e.g. 99.99), which drops rare outliers.</summary>
    Percentile,

    /// <summary>The clipping threshold whose quantized histogram is closest to the real one (KL divergence, as TensorRT).</summary>
    Entropy,
}

/// <summary>A tensor's chosen range.</summary>
public readonly record struct TensorRange(float Min, float Max);

/// <summary>
/// Streams one tensor's values through two passes over the calibration set: the first finds min and max, the second
/// fills a fixed histogram over [-A, A] (A = max |x| from the first pass). Memory is fixed per tensor whatever the
/// number of images, and the result does not depend on how values are split into batches, so it is deterministic.
/// </summary>
public sealed class TensorRangeCollector
{
    /// <summary>Histogram bins; an even count puts zero on a bin edge.</summary>
    public const int HistogramBins = 2048;

    private long[]? _histogram;
    private float _histogramLimit;

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    public long Count { get; private set; }

    /// <summary>Values that were NaN or infinite, skipped (a model that makes them is broken; the report shows the count).</summary>
    public long NonFinite { get; private set; }

    public bool HasValues => Count > 0;

    /// <summary>First pass: widens min and max.</summary>
    public void ObserveRange(ReadOnlySpan<float> values)
    {
        var min = Min;
        var max = Max;
        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            if (!float.IsFinite(value))
            {
                NonFinite++;
                continue;
            }

            if (value < min)
            {
                min = value;
            }

            if (value > max)
            {
                max = value;
            }

            Count++;
        }

        Min = min;
        Max = max;
    }

    /// <summary>Whether the second pass is wanted: a histogram over a range that is not a single point.</summary>
    public bool NeedsHistogram => HasValues && MathF.Max(MathF.Abs(Min), MathF.Abs(Max)) > 0f;

    /// <summary>Second pass: counts values into the histogram over [-A, A] fixed by the first pass.</summary>
    public void ObserveHistogram(ReadOnlySpan<float> values)
    {
        if (_histogram is null)
        {
            _histogramLimit = MathF.Max(MathF.Abs(Min), MathF.Abs(Max));
            _histogram = new long[HistogramBins];
        }

        var histogram = _histogram;
        var binsPerUnit = HistogramBins / (2.0 * _histogramLimit);
        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            if (!float.IsFinite(value))
            {
                continue;
            }

            var bin = (int)((value + (double)_histogramLimit) * binsPerUnit);
            histogram[Math.Clamp(bin, 0, HistogramBins - 1)]++;
        }
    }

    /// <summary>The range the method chooses; the MinMax range when there is no histogram.</summary>
    public TensorRange Range(CalibrationMethod method, double percentile = 99.99, int quantizationLevels = 256)
    {
        if (!HasValues)
        {
            return new TensorRange(0f, 0f);
        }

        if (method == CalibrationMethod.MinMax || _histogram is null)
        {
            return new TensorRange(Min, Max);
        }

        var threshold = method == CalibrationMethod.Percentile
            ? HistogramThresholds.Percentile(_histogram, _histogramLimit, percentile)
            : HistogramThresholds.Entropy(_histogram, _histogramLimit, quantizationLevels);
        return new TensorRange(MathF.Max(Min, -threshold), MathF.Min(Max, threshold));
    }
}

/// <summary>Clipping thresholds from a symmetric histogram of HistogramBins bins over [-limit, limit].</summary>
public static class HistogramThresholds
{
    /// <summary>The smallest t such that <paramref name="percentile"/>% of the values have |x| &lt;= t.</summary>
    public static float Percentile(ReadOnlySpan<long> histogram, float limit, double percentile)
    {
        if (!(percentile is > 0 and <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "The percentile must be in (0, 100].");
        }

        var half = histogram.Length / 2;
        var total = 0L;
        foreach (var count in histogram)
        {
            total += count;
        }

        if (total == 0)
        {
            return limit;
        }

        // Fold the two halves: ring k holds values with |x| in [k, k+1) bin widths.
        var wanted = total * (percentile / 100.0);
        var seen = 0L;
        for (var ring = 0; ring < half; ring++)
        {
            seen += histogram[half + ring] + histogram[half - 1 - ring];
            if (seen >= wanted)
            {
                return limit * (ring + 1) / half;
            }
        }

        return limit;
    }

    /// <summary>
    /// The threshold t minimising KL(P || Q), where P is the histogram clipped to [-t, t] (outliers added to the edge
    /// bins) and Q is P merged into <paramref name="levels"/> levels over the same window and spread back over the
    /// non-empty bins. Only the occupied part of the window counts, so a one-sided tensor (after SiLU, say) is judged
    /// over the levels it really uses. Thresholds are tried from the largest down; ties keep the larger.
    /// </summary>
    public static float Entropy(ReadOnlySpan<long> histogram, float limit, int levels = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 2);
        var bins = histogram.Length;
        var half = bins / 2;
        var first = 0;
        while (first < bins && histogram[first] == 0)
        {
            first++;
        }

        var last = bins - 1;
        while (last >= 0 && histogram[last] == 0)
        {
            last--;
        }

        if (first > last)
        {
            return limit;
        }

        var occupiedRings = Math.Max(half - first, last + 1 - half);
        var bestKl = double.PositiveInfinity;
        var bestRing = occupiedRings;
        var p = new double[bins];
        var q = new double[bins];
        const int Step = 4;
        for (var ring = occupiedRings; ring >= 1; ring -= Step)
        {
            var lo = Math.Max(half - ring, first);
            var hi = Math.Min(half + ring, last + 1);
            var width = hi - lo;

            // P: the clipped histogram with the outliers folded into its edge bins.
            for (var i = lo; i < hi; i++)
            {
                p[i] = histogram[i];
            }

            for (var i = first; i < lo; i++)
            {
                p[lo] += histogram[i];
            }

            for (var i = hi; i <= last; i++)
            {
                p[hi - 1] += histogram[i];
            }

            // Q: merge the window into `levels` groups, then spread each group's mass evenly over its non-empty bins.
            for (var level = 0; level < levels; level++)
            {
                var start = lo + (int)((long)width * level / levels);
                var end = lo + (int)((long)width * (level + 1) / levels);
                double mass = 0;
                var nonEmpty = 0;
                for (var i = start; i < end; i++)
                {
                    mass += histogram[i];
                    if (histogram[i] != 0)
                    {
                        nonEmpty++;
                    }
                }

                for (var i = start; i < end; i++)
                {
                    q[i] = histogram[i] != 0 ? mass / nonEmpty : 0;
                }
            }

            var kl = KlDivergence(p.AsSpan(lo, width), q.AsSpan(lo, width));
            if (kl < bestKl)
            {
                bestKl = kl;
                bestRing = ring;
            }

            if (width <= levels)
            {
                // Every bin has its own level from here down: narrower windows only add clipping.
                break;
            }
        }

        return limit * bestRing / half;
    }

    private static double KlDivergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double pTotal = 0, qTotal = 0;
        for (var i = 0; i < p.Length; i++)
        {
            pTotal += p[i];
            qTotal += q[i];
        }

        if (pTotal == 0 || qTotal == 0)
        {
            return double.PositiveInfinity;
        }

        double kl = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == 0)
            {
                continue;
            }

            var pi = p[i] / pTotal;

            // A bin P has and Q lacks (an outlier folded into an empty edge bin) costs as if Q had a tiny mass there.
            var qi = q[i] > 0 ? q[i] / qTotal : 1e-10;
            kl += pi * Math.Log(pi / qi);
        }

        return kl;
    }
}
