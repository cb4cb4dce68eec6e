namespace YoloFleet.Cloud.Abstractions;

/// <summary>
/// The model the cloud wants on a device (the twin's desired half): the device's newest assignment and, once chosen,
/// the variant it should run.
/// </summary>
/// <param name="ModelVersion">"name@version", for people.</param>
/// <param name="Slot">"active" (run it) or "shadow" (install it as the candidate beside the active model).</param>
/// <param name="SelectedSha256">The variant to run; "" while the cloud waits for the device's benchmarks.</param>
/// <param name="VariantSha256s">Every variant of the version (FP32 first).</param>
/// <param name="Since">When this desired state was set (the assignment, or the choice of variant).</param>
[GenerateSerializer, Immutable]
public sealed record DesiredModel(
    [property: Id(0)] string AssignmentId,
    [property: Id(1)] string ModelVersion,
    [property: Id(2)] string Slot,
    [property: Id(3)] string SelectedSha256,
    [property: Id(4)] string[] VariantSha256s,
    [property: Id(5)] DateTimeOffset Since);

/// <summary>What the device says it runs (the twin's reported half), from telemetry or an acknowledgement.</summary>
/// <param name="ActiveSha256">The model running (slot A); "" when unknown.</param>
/// <param name="CandidateSha256">The candidate installed beside it (slot B); "" for none.</param>
/// <param name="At">When the device said so (the silo's receive time).</param>
/// <param name="Source">"telemetry" or "ack".</param>
[GenerateSerializer, Immutable]
public sealed record ReportedModels(
    [property: Id(0)] string ActiveSha256,
    [property: Id(1)] string CandidateSha256,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string Source);

/// <summary>One ModelAssignmentAcknowledged as the twin keeps it.</summary>
[GenerateSerializer, Immutable]
public sealed record ModelAck(
    [property: Id(0)] string AssignmentId,
    [property: Id(1)] string Stage,
    [property: Id(2)] bool Accepted,
    [property: Id(3)] string ReasonCode,
    [property: Id(4)] string Error,
    [property: Id(5)] string Sha256,
    [property: Id(6)] string ActiveSha256,
    [property: Id(7)] string CandidateSha256,
    [property: Id(8)] DateTimeOffset At);

/// <summary>Desired against reported, when they differ: wanted X, running Y, since when, why.</summary>
/// <param name="Wanted">The SHA-256 wanted, or "any of ..." while the variant is not chosen yet.</param>
/// <param name="Running">What the device reported in the slot that matters ("" when it has not reported).</param>
/// <param name="Since">When desired and reported parted.</param>
/// <param name="Why">In words: the last refusal, the stage reached, or that the device has not answered.</param>
/// <param name="ReasonCode">The last refusal's reason code for this assignment ("" for none).</param>
/// <param name="Error">The last refusal's error text ("" for none).</param>
[GenerateSerializer, Immutable]
public sealed record ModelDrift(
    [property: Id(0)] string Wanted,
    [property: Id(1)] string Running,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] string Why,
    [property: Id(4)] string ReasonCode,
    [property: Id(5)] string Error);

/// <summary>A device's model twin: desired, reported, whether they agree, and the drift when they do not.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceTwin(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] DesiredModel? Desired,
    [property: Id(2)] ReportedModels? Reported,
    [property: Id(3)] bool InSync,
    [property: Id(4)] ModelDrift? Drift,
    [property: Id(5)] ModelAck? LastAck);
