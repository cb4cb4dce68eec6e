namespace YoloFleet.Cloud.Abstractions;

/// <summary>
/// One grain per device (key: device id): the hot state of that device, kept in durable grain storage (Redis in a
/// cluster). Sequence bookkeeping is fed with what has committed to PostgreSQL, so a message that failed to commit and
/// is redelivered is never mistaken for a duplicate. The business state (registry, frames) lives in PostgreSQL; the
/// grain caches the registration so the ingest path does not ask the database for every message.
/// </summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>Records frames of this device that were committed in one batch, and duplicates the database refused.</summary>
    Task RecordCommittedAsync(CommittedFrames committed);

    /// <summary>Records the sequence of a validated upstream message that is not a frame (hard frame, telemetry, ack).</summary>
    Task RecordMessageAsync(long sequence, DateTimeOffset receivedAt);

    /// <summary>Records a telemetry report: its sequence, and the health it reports.</summary>
    Task RecordTelemetryAsync(long sequence, DeviceHealth health);

    /// <summary>The model the device should move to (a rollout's candidate), or null for none.</summary>
    Task SetCandidateModelAsync(string? modelVersion);

    /// <summary>
    /// Whether the device is registered and active. The answer is cached in the grain: a registered device for a
    /// minute, an unknown one for two seconds (so a device registered a moment ago is admitted soon).
    /// </summary>
    Task<bool> IsAdmittedAsync();

    /// <summary>Forgets the cached registration, so the next check reads the registry (after an operator changed it).</summary>
    Task RefreshRegistrationAsync();

    Task<DeviceSnapshot> GetSnapshotAsync();

    /// <summary>The device twin's desired half: the device's newest assignment (saved at once).</summary>
    Task SetDesiredModelAsync(DesiredModel desired);

    /// <summary>An acknowledgement from the device: its stage, refusal and the models it reports (saved at once).</summary>
    Task RecordModelAckAsync(ModelAck ack);

    /// <summary>The models the device reports running (telemetry); older reports than the twin holds are ignored.</summary>
    Task ReportModelsAsync(ReportedModels reported);

    /// <summary>Desired against reported, with the drift (docs/registry.md).</summary>
    Task<DeviceTwin> GetTwinAsync();
    /// <summary>
    /// Records a stored delivery report (<c>DeliveryReported</c>): its own sequence, and the ranges the device dropped,
    /// which close as accounted for, so the grain stops asking for them.
    /// </summary>
    Task RecordDropsAsync(long sequence, DateTimeOffset receivedAt, DroppedSequences[] dropped);

    /// <summary>The device's open gaps and the grain's requests for them.</summary>
    Task<DeviceDeliveryState> GetDeliveryAsync();
}

/// <summary>A range of sequence numbers a device reported dropped, and why (DeliveryDropReasons).</summary>
[GenerateSerializer, Immutable]
public sealed record DroppedSequences(
    [property: Id(0)] long First,
    [property: Id(1)] long Last,
    [property: Id(2)] string Reason);

/// <summary>An open gap: numbers not received although later ones were, since when.</summary>
[GenerateSerializer, Immutable]
public sealed record SequenceGap(
    [property: Id(0)] long First,
    [property: Id(1)] long Last,
    [property: Id(2)] DateTimeOffset OpenSince);

/// <summary>A device grain's view of the device's delivery: what is open and what it asked for.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceDeliveryState(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] long HighestSequence,
    [property: Id(2)] long MissingSequences,
    [property: Id(3)] SequenceGap[] OpenGaps,
    [property: Id(4)] long AccountedByReports,
    [property: Id(5)] long GapRequests,
    [property: Id(6)] DateTimeOffset? LastGapRequestAt,
    [property: Id(7)] DateTimeOffset? NextGapRequestAt);

/// <summary>Sequences of one device committed by one batch.</summary>
[GenerateSerializer, Immutable]
public sealed record CommittedFrames(
    [property: Id(0)] long[] Sequences,
    [property: Id(1)] int Duplicates,
    [property: Id(2)] long Detections,
    [property: Id(3)] DateTimeOffset ReceivedAt,
    [property: Id(4)] string ModelVersion);

/// <summary>The latest health a device reported (TelemetryReported).</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceHealth(
    [property: Id(0)] DateTimeOffset ReceivedAt,
    [property: Id(1)] float FramesPerSecond,
    [property: Id(2)] float CpuPercent,
    [property: Id(3)] float RssMb,
    [property: Id(4)] float? TemperatureC,
    [property: Id(5)] long OutboxDepth,
    [property: Id(6)] long FramesDropped,
    [property: Id(7)] long SourceFailures,
    [property: Id(8)] string SourceError);

[GenerateSerializer, Immutable]
public sealed record DeviceSnapshot(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] DateTimeOffset? LastSeenAt,
    [property: Id(2)] long HighestSequence,
    [property: Id(3)] long Frames,
    [property: Id(4)] long Detections,
    [property: Id(5)] long Duplicates,
    [property: Id(6)] long MissingSequences,
    [property: Id(7)] string? ModelVersion,
    [property: Id(8)] string? CandidateModelVersion = null,
    [property: Id(9)] DeviceHealth? Health = null,
    [property: Id(10)] long Messages = 0);
