namespace YoloFleet.EdgeAgent.Telemetry;

/// <summary>Pipeline stages that are timed per frame.</summary>
public enum PipelineStage
{
    Capture,
    Preprocess,
    Inference,
    Postprocess,
    Enqueue,
}

/// <summary>
/// Recent per-stage latencies (a ring of the last <see cref="Capacity"/> frames per stage) and the frame count, for
/// telemetry. Recording is allocation-free; percentiles are computed when a report is built.
/// </summary>
public sealed class StageTimings
{
    public const int Capacity = 1024;

    private readonly Lock _gate = new();
    private readonly double[][] _rings = [.. Enum.GetValues<PipelineStage>().Select(_ => new double[Capacity])];
    private readonly int[] _counts = new int[Enum.GetValues<PipelineStage>().Length];
    private long _frames;
    private long _dropped;
    private long _sourceFailures;

    public long Frames => Interlocked.Read(ref _frames);

    /// <summary>Frames the source offered that the pipeline did not take (newest-wins drop policy).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Record(PipelineStage stage, double milliseconds)
    {
        lock (_gate)
        {
            var i = (int)stage;
            _rings[i][_counts[i] % Capacity] = milliseconds;
            _counts[i]++;
        }
    }

    /// <summary>Times the frame source was lost; the agent retried each time.</summary>
    public long SourceFailures => Interlocked.Read(ref _sourceFailures);

    /// <summary>Why the source was last lost; null again once a frame gets through.</summary>
    public string? SourceError { get; private set; }

    public void SourceLost(string error)
    {
        Interlocked.Increment(ref _sourceFailures);
        SourceError = error;
    }

    public void FrameDone()
    {
        Interlocked.Increment(ref _frames);
        SourceError = null;
    }

    public void FrameDropped() => Interlocked.Increment(ref _dropped);

    /// <summary>p50 and p95 of each stage over the recent frames; stages with no samples are left out.</summary>
    public IReadOnlyList<(PipelineStage Stage, double P50, double P95)> Percentiles()
    {
        var result = new List<(PipelineStage, double, double)>();
        lock (_gate)
        {
            foreach (var stage in Enum.GetValues<PipelineStage>())
            {
                var i = (int)stage;
                var n = Math.Min(_counts[i], Capacity);
                if (n == 0)
                {
                    continue;
                }

                var sorted = _rings[i][..n];
                Array.Sort(sorted);
                result.Add((stage, Percentile(sorted, 0.50), Percentile(sorted, 0.95)));
            }
        }

        return result;
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(double[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
