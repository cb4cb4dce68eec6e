namespace YoloFleet.Inference.Scene;

/// <summary>Where a track stands.</summary>
public enum TrackStatus
{
    /// <summary>Seen, not yet confirmed (fewer than <see cref="TrackerOptions.ConfirmHits"/> matches).</summary>
    Tentative,

    /// <summary>Confirmed and followed: matched at its last observation.</summary>
    Tracked,

    /// <summary>Confirmed, looked for and not found; kept for <see cref="TrackerOptions.MaxLostSeconds"/> to be found again.</summary>
    Lost,
}

/// <summary>One track in one frame, in frame pixels.</summary>
/// <param name="TrackId">Stable for the object's life; never reused by the tracker.</param>
/// <param name="Score">The score of the detection matched in this frame, else of the last one matched.</param>
/// <param name="IsDetected">Matched to a detection in this frame (its box is the detection's); otherwise carried by the motion model.</param>
/// <param name="FirstSeen">The frame time of its first detection.</param>
/// <param name="LastSeen">The frame time of its latest matched detection.</param>
public readonly record struct TrackedObject(
    long TrackId, int ClassId, float Score, float X1, float Y1, float X2, float Y2, TrackStatus Status, bool IsDetected,
    DateTimeOffset FirstSeen, DateTimeOffset LastSeen)
{
    public bool IsConfirmed => Status != TrackStatus.Tentative;

    public float Width => X2 - X1;

    public float Height => Y2 - Y1;

    /// <summary>The track's box as a detection (class, score, box), e.g. to compare with a detector's output.</summary>
    public Detection ToDetection() => new(ClassId, Score, X1, Y1, X2, Y2);
}

/// <summary>
/// What one <see cref="ByteTracker.Step"/> produced. The tracker owns and reuses it: read it before the next step.
/// </summary>
public sealed class TrackerUpdate
{
    internal List<TrackedObject> VisibleList { get; } = [];

    internal List<TrackedObject> ConfirmedList { get; } = [];

    internal List<TrackedObject> EndedList { get; } = [];

    /// <summary>
    /// The objects in this frame: every track matched to a detection in it (confirmed or not), every confirmed track
    /// followed but not detected here, and every track lost less than <see cref="TrackerOptions.CoastSeconds"/> ago;
    /// those not detected are at their predicted box.
    /// </summary>
    public IReadOnlyList<TrackedObject> Visible => VisibleList;

    /// <summary>Tracks confirmed in this frame (they are also in <see cref="Visible"/>).</summary>
    public IReadOnlyList<TrackedObject> Confirmed => ConfirmedList;

    /// <summary>Confirmed tracks that ended in this frame, as they were last seen. Unconfirmed tracks end silently.</summary>
    public IReadOnlyList<TrackedObject> Ended => EndedList;

    /// <summary>Whether this step had detections to match (false: every track was carried).</summary>
    public bool Observed { get; internal set; }

    internal void Clear()
    {
        VisibleList.Clear();
        ConfirmedList.Clear();
        EndedList.Clear();
        Observed = false;
    }
}
