namespace YoloFleet.Cloud.Abstractions;

/// <summary>
/// One grain per device (key: device id): the hot state of that device. Sequence bookkeeping is fed with what has
/// committed to PostgreSQL, so a message that failed to commit and is redelivered is never mistaken for a duplicate.
/// </summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>Records frames of this device that were committed in one batch, and duplicates the database refused.</summary>
    Task RecordCommittedAsync(CommittedFrames committed);

    /// <summary>Records the sequence of a validated upstream message that is not a frame (hard frame, telemetry, ack).</summary>
    Task RecordMessageAsync(long sequence, DateTimeOffset receivedAt);

    Task<DeviceSnapshot> GetSnapshotAsync();
}

/// <summary>Sequences of one device committed by one batch.</summary>
[GenerateSerializer, Immutable]
public sealed record CommittedFrames(
    [property: Id(0)] long[] Sequences,
    [property: Id(1)] int Duplicates,
    [property: Id(2)] long Detections,
    [property: Id(3)] DateTimeOffset ReceivedAt,
    [property: Id(4)] string ModelVersion);

[GenerateSerializer, Immutable]
public sealed record DeviceSnapshot(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] DateTimeOffset? LastSeenAt,
    [property: Id(2)] long HighestSequence,
    [property: Id(3)] long Frames,
    [property: Id(4)] long Detections,
    [property: Id(5)] long Duplicates,
    [property: Id(6)] long MissingSequences,
    [property: Id(7)] string? ModelVersion);
