namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// One object event (<c>ObjectEventPublished</c>, topic <c>events</c>): a tracked object's start, update or end from a
/// device's scene. Stored once: the key is (device_id, sequence), so a redelivered event inserts nothing. An object's
/// events share its <see cref="ObjectId"/> (the sequence of its start); the latest revision has its whole story.
/// </summary>
public sealed class ObjectEventRecord
{
    public const string Started = "started";
    public const string Updated = "updated";
    public const string Ended = "ended";

    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    public long ObjectId { get; set; }

    /// <summary><see cref="Started"/>, <see cref="Updated"/> or <see cref="Ended"/>.</summary>
    public required string Kind { get; set; }

    public int Revision { get; set; }

    public int ClassId { get; set; }

    /// <summary>The frame time the event was made at (device clock).</summary>
    public DateTimeOffset At { get; set; }

    public DateTimeOffset FirstSeen { get; set; }

    public DateTimeOffset LastSeen { get; set; }

    public float BestScore { get; set; }

    /// <summary>Zone visits so far as a JSON array of {zone, entered, exited} (ISO times; exited null while inside).</summary>
    public string ZonesJson { get; set; } = "[]";

    /// <summary>Line crossings so far as a JSON array of {line, direction, at}.</summary>
    public string LinesJson { get; set; } = "[]";

    /// <summary>The best picture (JPEG) when the event carried a new one; null otherwise.</summary>
    public byte[]? BestCropJpeg { get; set; }

    /// <summary>The best picture's box in frame pixels; null when the event had none.</summary>
    public float? BoxX1 { get; set; }

    public float? BoxY1 { get; set; }

    public float? BoxX2 { get; set; }

    public float? BoxY2 { get; set; }

    public int FrameWidth { get; set; }

    public int FrameHeight { get; set; }

    public string ModelVersion { get; set; } = "";

    public string ModelSha256 { get; set; } = "";

    /// <summary>An end the agent made at its next start for an object a crash left open.</summary>
    public bool Recovered { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}
