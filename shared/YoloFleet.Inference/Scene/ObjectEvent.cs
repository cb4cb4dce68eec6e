namespace YoloFleet.Inference.Scene;

/// <summary>Which moment of an object's life an <see cref="ObjectEvent"/> reports.</summary>
public enum ObjectEventKind
{
    /// <summary>The track was confirmed: a new object.</summary>
    Started,

    /// <summary>The object is still there (at most one per <see cref="ObjectEventOptions.UpdateInterval"/>, and only when something changed).</summary>
    Updated,

    /// <summary>The track ended: the object left, or was lost for too long, or the scene stopped.</summary>
    Ended,
}

/// <summary>The frame and box to crop for an object's picture: the caller cuts it (a JPEG) from that frame.</summary>
/// <param name="FrameIndex">The frame's number in the scene's sequence (<see cref="SceneFrame.FrameIndex"/>).</param>
/// <param name="Box">The detection's box, in whole frame pixels, clipped to the frame.</param>
public readonly record struct BestCrop(long FrameIndex, DateTimeOffset FrameTime, PixelRect Box, float Score);

/// <summary>One stay in a zone; <see cref="Exited"/> is null while the object is still inside.</summary>
public sealed record ZoneVisit(string Zone, DateTimeOffset Entered, DateTimeOffset? Exited)
{
    /// <summary>How long the object stayed (so far, up to <paramref name="now"/>, while it is inside).</summary>
    public TimeSpan DwellUntil(DateTimeOffset now) => (Exited ?? now) - Entered;
}

/// <summary>
/// An object's event: its track, class, when it was first and last seen, its best score, the zones it entered and
/// the lines it crossed so far, and which frame and box make its best picture. Plain data: the wire message is made
/// from it elsewhere.
/// </summary>
/// <param name="Revision">0 for <see cref="ObjectEventKind.Started"/>, then one more per event of this track, so a receiver can order them and spot a gap.</param>
/// <param name="At">The frame time the event was made at.</param>
public sealed record ObjectEvent(
    ObjectEventKind Kind,
    long TrackId,
    int ClassId,
    int Revision,
    DateTimeOffset At,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    float BestScore,
    BestCrop? BestCrop,
    IReadOnlyList<ZoneVisit> Zones,
    IReadOnlyList<LineCrossing> Lines);

/// <summary>Asks the caller to cut a track's picture from the current frame now, while it still has it.</summary>
public readonly record struct CropRequest(long TrackId, BestCrop Crop);

/// <summary>Settings of the <see cref="ObjectEventBuilder"/>.</summary>
public sealed class ObjectEventOptions
{
    /// <summary>At most one <see cref="ObjectEventKind.Updated"/> per track per this interval (frame time).</summary>
    public TimeSpan UpdateInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A new best picture is asked for only when its score beats the current one by at least this.</summary>
    public float CropScoreGain { get; set; } = 0.05f;

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        if (UpdateInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(UpdateInterval), UpdateInterval, "UpdateInterval must not be negative.");
        }

        if (!(CropScoreGain is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(CropScoreGain), CropScoreGain, "CropScoreGain must be between 0 and 1.");
        }
    }
}
