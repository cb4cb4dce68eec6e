namespace YoloFleet.EdgeAgent.Pipeline;

/// <summary>
/// Whether the pipeline is making progress, for the systemd watchdog: frames reaching the outbox, or a quiet spell the
/// agent chose (a source retry back-off, a frame-rate cap's wait, the drain after a finite source). A pipeline stuck
/// anywhere else (a hung camera read, a deadlocked stage) stops being alive, so systemd restarts it.
/// </summary>
public sealed class PipelineLiveness(TimeProvider time)
{
    private long _lastProgress = time.GetTimestamp();
    private long _quietUntil = time.GetTimestamp();

    /// <summary>A frame went all the way through (or the pipeline started afresh).</summary>
    public void Progress() => Volatile.Write(ref _lastProgress, time.GetTimestamp());

    /// <summary>The pipeline will legitimately deliver nothing for <paramref name="span"/> from now.</summary>
    public void ExpectQuietFor(TimeSpan span)
    {
        var until = time.GetTimestamp() + (long)(span.TotalSeconds * time.TimestampFrequency);
        long current;
        do
        {
            current = Volatile.Read(ref _quietUntil);
            if (until <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _quietUntil, until, current) != current);
    }

    /// <summary>How long since the last frame went through.</summary>
    public TimeSpan SinceProgress => time.GetElapsedTime(Volatile.Read(ref _lastProgress));

    /// <summary>Progress within <paramref name="window"/>, or inside (or within <paramref name="window"/> of) an expected quiet spell.</summary>
    public bool IsAlive(TimeSpan window)
    {
        var now = time.GetTimestamp();
        return time.GetElapsedTime(Volatile.Read(ref _lastProgress), now) < window
            || time.GetElapsedTime(Volatile.Read(ref _quietUntil), now) < window;
    }
}
