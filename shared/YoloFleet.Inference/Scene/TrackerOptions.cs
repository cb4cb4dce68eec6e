namespace YoloFleet.Inference.Scene;

/// <summary>Settings of the <see cref="ByteTracker"/>. The defaults and why they are what they are: docs/scene.md.</summary>
public sealed class TrackerOptions
{
    /// <summary>
    /// Detections at or above this score are "high" (ByteTrack's track_thresh): they are matched first, to every
    /// track, and only they start tracks. The default is the detector's own serving threshold, so that every object the
    /// whole-frame mode reports can become a track.
    /// </summary>
    public float HighScore { get; set; } = 0.25f;

    /// <summary>Detections from this score up to <see cref="HighScore"/> only extend tracks already followed (ByteTrack's second pass).</summary>
    public float LowScore { get; set; } = 0.1f;

    /// <summary>
    /// A high detection left unmatched starts a track when it scores at least this. ByteTrack asks for 0.1 more than
    /// <see cref="HighScore"/>; here a track must also be seen twice to count (<see cref="ConfirmHits"/>), which does
    /// that margin's job, and a small model's real objects often score just above its serving threshold.
    /// </summary>
    public float NewTrackScore { get; set; } = 0.25f;

    /// <summary>First pass: a track and a high detection pair up only at this IoU or more (ByteTrack's match_thresh 0.8 is 1 - 0.2).</summary>
    public float MatchIou { get; set; } = 0.2f;

    /// <summary>Second pass: a track and a low detection pair up only at this IoU or more (ByteTrack: 0.5).</summary>
    public float LowScoreMatchIou { get; set; } = 0.5f;

    /// <summary>A new, unconfirmed track and a detection pair up only at this IoU or more (ByteTrack: 0.3).</summary>
    public float TentativeMatchIou { get; set; } = 0.3f;

    /// <summary>
    /// A track is confirmed, and reported, once it has been matched this many times in a row (the first detection
    /// included). A detection that is not seen again is then never an object.
    /// </summary>
    public int ConfirmHits { get; set; } = 2;

    /// <summary>
    /// A track that was looked for and not found is kept this long (seconds of frame time since it was last matched)
    /// before it ends, so that it survives an occlusion and is matched again by its predicted position.
    /// </summary>
    public double MaxLostSeconds { get; set; } = 2.0;

    /// <summary>
    /// A confirmed track that was looked for and not found is still reported, at its predicted box, until it has gone
    /// unmatched this long (seconds): one missed detection does not make an object blink out of the output. Lost tracks
    /// beyond it are kept (<see cref="MaxLostSeconds"/>) but not reported.
    /// </summary>
    public double CoastSeconds { get; set; } = 0.5;

    /// <summary>
    /// A track whose velocity is below this many of its own heights per second counts as standing still: when it is not
    /// observed, it is held in place rather than extrapolated, and the scene does not re-detect it on its own account.
    /// A person standing and swaying stays well below 0.1 heights per second; walking is about 1.
    /// </summary>
    public double MovingHeightsPerSecond { get; set; } = 0.1;

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!(LowScore is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(LowScore), LowScore, "LowScore must be between 0 and 1.");
        }

        if (!(HighScore >= LowScore && HighScore <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(HighScore), HighScore, "HighScore must be between LowScore and 1.");
        }

        if (!(NewTrackScore >= HighScore && NewTrackScore <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(NewTrackScore), NewTrackScore, "NewTrackScore must be between HighScore and 1.");
        }

        foreach (var (name, value) in new[] { (nameof(MatchIou), MatchIou), (nameof(LowScoreMatchIou), LowScoreMatchIou), (nameof(TentativeMatchIou), TentativeMatchIou) })
        {
            if (!(value is > 0f and <= 1f))
            {
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be more than 0 and at most 1.");
            }
        }

        if (ConfirmHits is < 1 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(ConfirmHits), ConfirmHits, "ConfirmHits must be 1 to 100.");
        }

        if (!(MaxLostSeconds >= 0) || !double.IsFinite(MaxLostSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLostSeconds), MaxLostSeconds, "MaxLostSeconds must be 0 or more.");
        }

        if (!(CoastSeconds >= 0 && CoastSeconds <= MaxLostSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(CoastSeconds), CoastSeconds, "CoastSeconds must be 0 to MaxLostSeconds.");
        }

        if (!(MovingHeightsPerSecond >= 0) || !double.IsFinite(MovingHeightsPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(MovingHeightsPerSecond), MovingHeightsPerSecond, "MovingHeightsPerSecond must be 0 or more.");
        }
    }
}
