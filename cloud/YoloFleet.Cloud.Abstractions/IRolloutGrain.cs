namespace YoloFleet.Cloud.Abstractions;

/// <summary>
/// One grain per staged rollout (key: the rollout id, "ro-..."): a candidate model version against a baseline over a
/// target, stage by stage, with gates deciding whether it moves on or rolls back (docs/rollout.md). Its state lives in
/// PostgreSQL (tables rollouts and rollout_events), so it survives a silo restart; the grain reloads it on activation and
/// evaluates its gates on a timer while it runs.
/// </summary>
public interface IRolloutGrain : IGrainWithStringKey
{
    /// <summary>Creates the rollout under this grain's key and enters its first stage.</summary>
    Task<RolloutReply> StartAsync(RolloutRequest request, string actor);

    Task<RolloutReply> GetAsync();

    /// <summary>Moves to the next stage (or completes) now, whatever the gates say.</summary>
    Task<RolloutReply> PromoteAsync(string actor, string reason);

    /// <summary>Stops the gates and the stages from moving; devices keep what they run.</summary>
    Task<RolloutReply> PauseAsync(string actor, string reason);

    Task<RolloutReply> ResumeAsync(string actor, string reason);

    /// <summary>Ends the rollout and sends every device that got the candidate back to its previous model.</summary>
    Task<RolloutReply> AbortAsync(string actor, string reason);

    /// <summary>Evaluates the gates once (the timer does this; the host's keeper calls it to re-activate running rollouts).</summary>
    Task EvaluateAsync();
}

/// <summary>The states of a rollout (docs/rollout.md has the diagram).</summary>
public static class RolloutStates
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Completed = "completed";
    public const string RolledBack = "rolled-back";
    public const string Aborted = "aborted";

    /// <summary>Ended because devices refused the candidate's artifact as tampered (bad signature, hash or size).</summary>
    public const string Stopped = "stopped";

    public static bool IsActive(string state) => state is Running or Paused;
}

/// <summary>One stage: the share of the target on the candidate, and what it must show before the next.</summary>
/// <param name="Percent">Share of the target's devices, (0, 100]; a stage always takes at least one device.</param>
/// <param name="MinSoak">The least time in the stage before it may pass.</param>
/// <param name="MinAgreementSamples">Verified hard frames each group (candidate, control) needs before the sequential test may decide.</param>
/// <param name="MinLatencySamples">Non-throttled latency reports each group needs before the latency gate may pass (0: no latency gate).</param>
/// <param name="Shadow">
/// The stage's devices run the candidate in shadow (assigned with slot "shadow") beside the model they run, instead of
/// switching to it: only the shadow gate and the refusals decide. Shadow stages come before the others.
/// </param>
/// <param name="MinShadowWindows">
/// Shadow windows from the stage's devices the shadow gate needs (and as many FP32 verdicts on their disagreement
/// frames when the divergence is over the bound); 0: no shadow gate in this stage.
/// </param>
[GenerateSerializer, Immutable]
public sealed record RolloutStageSpec(
    [property: Id(0)] double Percent,
    [property: Id(1)] TimeSpan MinSoak,
    [property: Id(2)] int MinAgreementSamples,
    [property: Id(3)] int MinLatencySamples,
    [property: Id(4)] bool Shadow = false,
    [property: Id(5)] int MinShadowWindows = RolloutStageSpec.DefaultMinShadowWindows)
{
    /// <summary>Shadow windows a stage needs by default (ten minutes of one device at the agent's default 60 s window).</summary>
    public const int DefaultMinShadowWindows = 10;
}

/// <summary>The gates' settings.</summary>
/// <param name="Regression">The drop in mean agreement with FP32 the sequential test must catch (0.03: three points).</param>
/// <param name="FalseRollback">α: the chance of rolling back a candidate as good as the control.</param>
/// <param name="MissedRegression">β: the chance of passing a candidate worse by <paramref name="Regression"/>.</param>
/// <param name="MaxLatencyRatio">Roll back when the candidate's latency p95 exceeds the control's by more than this factor.</param>
/// <param name="MaxRefusalShare">Roll back when more than this share of the stage's devices refused, failed or rolled back the candidate.</param>
/// <param name="MaxShadowDivergence">
/// The most the candidate's boxes in shadow may diverge from the active model's, (only-active + only-candidate) / all
/// boxes, before the FP32 verifier's verdicts on the disagreement frames must show it right more often than the active
/// model; otherwise the stage rolls back.
/// </param>
[GenerateSerializer, Immutable]
public sealed record RolloutGates(
    [property: Id(0)] double Regression = 0.03,
    [property: Id(1)] double FalseRollback = 0.05,
    [property: Id(2)] double MissedRegression = 0.05,
    [property: Id(3)] double MaxLatencyRatio = 1.25,
    [property: Id(4)] double MaxRefusalShare = 0.25,
    [property: Id(5)] double MaxShadowDivergence = 0.25);

/// <summary>POST /api/rollouts: a candidate version of a model over a target.</summary>
/// <param name="CandidateVersion">Null: the model's newest version.</param>
/// <param name="BaselineVersion">What the control runs; null: the newest version below the candidate.</param>
/// <param name="Group">Target a device group; with neither this nor <paramref name="Devices"/>, the whole fleet.</param>
/// <param name="Devices">Target these devices.</param>
/// <param name="Stages">Null: 5 % → 25 % → 100 %, each with 1 h of soak and 100 verified hard frames per group.</param>
/// <param name="Gates">Null: the defaults of <see cref="RolloutGates"/>.</param>
[GenerateSerializer, Immutable]
public sealed record RolloutRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] int? CandidateVersion,
    [property: Id(2)] int? BaselineVersion,
    [property: Id(3)] string? Group,
    [property: Id(4)] string[]? Devices,
    [property: Id(5)] RolloutStageSpec[]? Stages,
    [property: Id(6)] RolloutGates? Gates);

/// <summary>A grain's answer: the status, or why the request was refused ("invalid", "not-found", "conflict").</summary>
[GenerateSerializer, Immutable]
public sealed record RolloutReply(
    [property: Id(0)] RolloutStatus? Status,
    [property: Id(1)] string? ErrorKind = null,
    [property: Id(2)] string? Error = null)
{
    public const string Invalid = "invalid";
    public const string NotFound = "not-found";
    public const string Conflict = "conflict";

    public static RolloutReply Refused(string kind, string error) => new(null, kind, error);
}

/// <summary>Where a rollout stands: stage, devices, the last gate figures, verdict and the audit trail.</summary>
[GenerateSerializer, Immutable]
public sealed record RolloutStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] string Model,
    [property: Id(2)] int CandidateVersion,
    [property: Id(3)] int BaselineVersion,
    [property: Id(4)] string State,
    [property: Id(5)] int StageIndex,
    [property: Id(6)] RolloutStageSpec[] Stages,
    [property: Id(7)] DateTimeOffset StageStartedAt,
    [property: Id(8)] string TargetKind,
    [property: Id(9)] string? TargetGroup,
    [property: Id(10)] string[] TargetDevices,
    [property: Id(11)] string[] StageDevices,
    [property: Id(12)] RolloutGates Gates,
    [property: Id(13)] GateReport? LastGate,
    [property: Id(14)] string Reason,
    [property: Id(15)] string[] AssignmentIds,
    [property: Id(16)] RolloutEventView[] Events,
    [property: Id(17)] DateTimeOffset CreatedAt,
    [property: Id(18)] DateTimeOffset UpdatedAt,
    [property: Id(19)] DateTimeOffset? FinishedAt,
    [property: Id(20)] RolloutDeviceVariant[]? Variants = null);

/// <summary>
/// The variant the registry chose for one device of a rollout, and why: the choice its newest assignment of the rollout
/// recorded (null while the device benchmarks). The API fills these in; the grain keeps assignment ids only.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RolloutDeviceVariant(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] string AssignmentId,
    [property: Id(2)] string? Sha256,
    [property: Id(3)] string? Precision,
    [property: Id(4)] string? Reason);

/// <summary>One gate evaluation: the verdict ("wait", "pass", "roll-back", "stop"), why, and the figures behind it.</summary>
[GenerateSerializer, Immutable]
public sealed record GateReport(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Verdict,
    [property: Id(2)] string Reason,
    [property: Id(3)] AgreementFigures Agreement,
    [property: Id(4)] LatencyFigures Latency,
    [property: Id(5)] RefusalFigures Refusals,
    [property: Id(6)] TimeSpan Soaked,
    [property: Id(7)] string Shadow,
    [property: Id(8)] ShadowFigures? ShadowWindows = null);

/// <summary>
/// The shadow gate's reading: the candidate's shadow windows from the stage's devices over the stage (box-level
/// divergence from the active model), and the FP32 verifier's verdicts on the frames the two disagreed on, each model's
/// mean agreement with FP32 on the same frames. Decision: "off", "waiting", "not-gated" (under the minimum in a stage
/// that does not shadow), "pass" or "roll-back".
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShadowFigures(
    [property: Id(0)] long Windows,
    [property: Id(1)] long Devices,
    [property: Id(2)] long ShadowedFrames,
    [property: Id(3)] long Matched,
    [property: Id(4)] long OnlyActive,
    [property: Id(5)] long OnlyCandidate,
    [property: Id(6)] double Divergence,
    [property: Id(7)] double MaxDivergence,
    [property: Id(8)] int MinWindows,
    [property: Id(9)] long Verdicts,
    [property: Id(10)] double? CandidateAgreement,
    [property: Id(11)] double? ActiveAgreement,
    [property: Id(12)] string Decision);

/// <summary>The sequential test's reading: each group's verified hard frames and mean agreement with FP32, and the log-likelihood ratio.</summary>
[GenerateSerializer, Immutable]
public sealed record AgreementFigures(
    [property: Id(0)] long ControlSamples,
    [property: Id(1)] double ControlMean,
    [property: Id(2)] long CandidateSamples,
    [property: Id(3)] double CandidateMean,
    [property: Id(4)] double LogLikelihoodRatio,
    [property: Id(5)] double LowerBound,
    [property: Id(6)] double UpperBound,
    [property: Id(7)] string Decision,
    [property: Id(8)] bool Truncated);

/// <summary>Inference latency p95 from non-throttled telemetry (the median of the reported p95s), per group.</summary>
[GenerateSerializer, Immutable]
public sealed record LatencyFigures(
    [property: Id(0)] long ControlSamples,
    [property: Id(1)] double? ControlP95Ms,
    [property: Id(2)] long CandidateSamples,
    [property: Id(3)] double? CandidateP95Ms);

/// <summary>The stage's devices that refused, failed or rolled back the candidate, and the reason codes that mean a tampered artifact.</summary>
[GenerateSerializer, Immutable]
public sealed record RefusalFigures(
    [property: Id(0)] int StageDevices,
    [property: Id(1)] int RefusedDevices,
    [property: Id(2)] string[] ReasonCodes,
    [property: Id(3)] int TamperedDevices,
    [property: Id(4)] string Detail);

/// <summary>One row of the audit trail.</summary>
[GenerateSerializer, Immutable]
public sealed record RolloutEventView(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Actor,
    [property: Id(2)] string Kind,
    [property: Id(3)] string FromState,
    [property: Id(4)] string ToState,
    [property: Id(5)] int StageIndex,
    [property: Id(6)] string Reason,
    [property: Id(7)] string? Figures);
