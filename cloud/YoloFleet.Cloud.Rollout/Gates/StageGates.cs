using System.Globalization;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Rollout.Planning;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Rollout.Gates;

/// <summary>A group's latency reports: how many, and the median of their inference p95 (null for none).</summary>
public readonly record struct LatencySample(long Count, double? P95Ms);

/// <summary>A stage device whose latest acknowledgement of the candidate is a refusal, failure or roll-back.</summary>
public sealed record DeviceRefusal(string DeviceId, string Stage, string ReasonCode, string Error);

/// <summary>
/// The candidate's shadow windows from the stage's devices over the stage (summed), and the FP32 verifier's verdicts on
/// their disagreement frames: how many frames were judged for both models, and each model's mean agreement with FP32 on
/// them (null for none).
/// </summary>
public readonly record struct ShadowSample(
    long Windows, long Devices, long ShadowedFrames, long Matched, long OnlyActive, long OnlyCandidate,
    long Verdicts = 0, double? CandidateAgreement = null, double? ActiveAgreement = null)
{
    /// <summary>(only_active + only_candidate) / all boxes; 0 with no boxes.</summary>
    public double Divergence => Matched + OnlyActive + OnlyCandidate == 0 ? 0 : (double)(OnlyActive + OnlyCandidate) / (Matched + OnlyActive + OnlyCandidate);
}

/// <summary>Everything one gate evaluation looks at, gathered from PostgreSQL over the stage's period.</summary>
public sealed record GateInputs(
    RolloutStageSpec Stage,
    RolloutGates Gates,
    RunningMoments ControlAgreement,
    RunningMoments CandidateAgreement,
    LatencySample ControlLatency,
    LatencySample CandidateLatency,
    int StageDevices,
    IReadOnlyList<DeviceRefusal> Refusals,
    IReadOnlyList<DeviceRefusal> TamperRefusals,
    TimeSpan Soaked,
    ShadowSample Shadow = default);

/// <summary>
/// The stage's gates, each candidate against control over the same period: a tampered artifact stops the rollout; too
/// many refusals, a regression in agreement with FP32 (the sequential test), a slower p95 or a shadow divergence over
/// the bound that the FP32 verdicts do not excuse roll it back; it passes once the test says "no regression", the
/// latency reports and shadow windows are in and the soak time is over. A shadow stage (its devices run the candidate
/// beside their model, serving no frame with it) has no agreement or latency gate. Pure: the grain gathers the figures
/// and acts on the verdict.
/// </summary>
public static class StageGates
{
    public const string Wait = "wait";
    public const string Pass = "pass";
    public const string RollBack = "roll-back";
    public const string Stop = "stop";

    /// <summary>Reason codes of an artifact an agent refused as not the one signed (docs/edge-agent.md).</summary>
    public static readonly IReadOnlySet<string> TamperReasonCodes =
        new HashSet<string>(StringComparer.Ordinal) { "unsigned", "unknown-key", "bad-signature", "hash-mismatch", "size-mismatch", "bad-manifest" };

    public static GateReport Decide(GateInputs inputs, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var shadowStage = inputs.Stage.Shadow;
        var agreementGate = !shadowStage && inputs.Stage.MinAgreementSamples > 0;
        var reading = SequentialAgreementTest.Read(RolloutPlan.Design(inputs.Gates, inputs.Stage), inputs.ControlAgreement, inputs.CandidateAgreement);
        var agreement = new AgreementFigures(
            reading.ControlSamples, reading.ControlMean, reading.CandidateSamples, reading.CandidateMean, reading.LogLikelihoodRatio,
            reading.LowerBound, reading.UpperBound, agreementGate ? reading.Decision.ToString() : "off", reading.Truncated);
        var latency = new LatencyFigures(inputs.ControlLatency.Count, inputs.ControlLatency.P95Ms, inputs.CandidateLatency.Count, inputs.CandidateLatency.P95Ms);
        var refusedCodes = inputs.Refusals.Select(r => r.ReasonCode).Concat(inputs.TamperRefusals.Select(r => r.ReasonCode))
            .Where(code => code.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var tamperedDevices = inputs.TamperRefusals.Select(r => r.DeviceId).Distinct(StringComparer.Ordinal).Count();
        var refusals = new RefusalFigures(inputs.StageDevices, inputs.Refusals.Count, refusedCodes, tamperedDevices, Describe(inputs.TamperRefusals.Count > 0 ? inputs.TamperRefusals : inputs.Refusals));

        var shadow = ReadShadow(inputs);
        GateReport Report(string verdict, string reason) => new(at, verdict, reason, agreement, latency, refusals, inputs.Soaked, Describe(shadow), shadow);

        if (inputs.TamperRefusals.Count > 0)
        {
            return Report(Stop, $"{tamperedDevices} device(s) refused the candidate's artifact as tampered: {refusals.Detail}");
        }

        var refusedShare = inputs.StageDevices == 0 ? 0 : (double)inputs.Refusals.Count / inputs.StageDevices;
        if (inputs.Refusals.Count > 0 && refusedShare > inputs.Gates.MaxRefusalShare)
        {
            return Report(RollBack, Invariant(
                $"{inputs.Refusals.Count} of {inputs.StageDevices} stage device(s) refused, failed or rolled back the candidate ({refusedShare:P0} > {inputs.Gates.MaxRefusalShare:P0}): {refusals.Detail}"));
        }

        if (agreementGate && reading.Decision == SequentialDecision.Regression)
        {
            return Report(RollBack, "agreement with FP32 regressed: " + reading);
        }

        var latencyGate = !shadowStage && inputs.Stage.MinLatencySamples > 0;
        var latencyReady = latencyGate && inputs.ControlLatency.Count >= inputs.Stage.MinLatencySamples && inputs.CandidateLatency.Count >= inputs.Stage.MinLatencySamples
            && inputs.ControlLatency.P95Ms is not null && inputs.CandidateLatency.P95Ms is not null;
        if (latencyReady && inputs.CandidateLatency.P95Ms > inputs.ControlLatency.P95Ms * inputs.Gates.MaxLatencyRatio)
        {
            return Report(RollBack, Invariant(
                $"latency p95 {inputs.CandidateLatency.P95Ms:F1} ms on the candidate against {inputs.ControlLatency.P95Ms:F1} ms on the control, over {inputs.Gates.MaxLatencyRatio:F2}x (n={inputs.CandidateLatency.Count}/{inputs.ControlLatency.Count})"));
        }

        if (shadow.Decision == ShadowRollBack)
        {
            return Report(RollBack, "shadow divergence: " + Describe(shadow));
        }

        var waiting = new List<string>();
        if (inputs.Soaked < inputs.Stage.MinSoak)
        {
            waiting.Add(Invariant($"soak {inputs.Soaked.TotalSeconds:F0} s of {inputs.Stage.MinSoak.TotalSeconds:F0} s"));
        }

        if (agreementGate && reading.Decision != SequentialDecision.NoRegression)
        {
            waiting.Add("agreement test undecided: " + reading);
        }

        if (latencyGate && !latencyReady)
        {
            waiting.Add(Invariant(
                $"latency reports {inputs.CandidateLatency.Count} candidate / {inputs.ControlLatency.Count} control of {inputs.Stage.MinLatencySamples} each"));
        }

        if (shadow.Decision == ShadowWaiting)
        {
            waiting.Add("shadow " + Describe(shadow));
        }

        return waiting.Count > 0
            ? Report(Wait, "waiting for " + string.Join("; ", waiting))
            : Report(Pass, Invariant($"gates passed: {(agreementGate ? reading.ToString() : "agreement gate off")}; ") +
                (latencyGate ? Invariant($"latency p95 {inputs.CandidateLatency.P95Ms:F1} ms vs {inputs.ControlLatency.P95Ms:F1} ms; ") : "latency gate off; ") +
                "shadow " + Describe(shadow) + "; " +
                Invariant($"{inputs.Refusals.Count} of {inputs.StageDevices} device(s) refused; soaked {inputs.Soaked.TotalSeconds:F0} s"));
    }

    public const string ShadowOff = "off";
    public const string ShadowWaiting = "waiting";
    public const string ShadowNotGated = "not-gated";
    public const string ShadowPass = "pass";
    public const string ShadowRollBack = "roll-back";

    /// <summary>
    /// The shadow gate (docs/rollout.md): with at least MinShadowWindows windows, a divergence within the bound passes;
    /// over it, the FP32 verdicts on the disagreement frames decide once there are as many: the candidate passes only if
    /// it agrees with FP32 more than the active model on the same frames (it differs because it is better), else the
    /// stage rolls back. Under the minimum a shadow stage waits; another stage is not gated by its few windows.
    /// </summary>
    private static ShadowFigures ReadShadow(GateInputs inputs)
    {
        var s = inputs.Shadow;
        var min = inputs.Stage.MinShadowWindows;
        var bound = inputs.Gates.MaxShadowDivergence;
        var decision =
            min == 0 ? ShadowOff
            : s.Windows < min ? (inputs.Stage.Shadow ? ShadowWaiting : ShadowNotGated)
            : s.Divergence <= bound ? ShadowPass
            : s.Verdicts < min || s.CandidateAgreement is null || s.ActiveAgreement is null ? ShadowWaiting
            : s.CandidateAgreement > s.ActiveAgreement ? ShadowPass
            : ShadowRollBack;
        return new ShadowFigures(s.Windows, s.Devices, s.ShadowedFrames, s.Matched, s.OnlyActive, s.OnlyCandidate, s.Divergence, bound, min,
            s.Verdicts, s.CandidateAgreement, s.ActiveAgreement, decision);
    }

    private static string Describe(ShadowFigures shadow)
    {
        if (shadow.Decision == ShadowOff)
        {
            return "gate off";
        }

        var text = Invariant($"{shadow.Windows} window(s) of {shadow.MinWindows} from {shadow.Devices} device(s)");
        if (shadow.Windows > 0)
        {
            text += Invariant($", divergence {shadow.Divergence:F3} (bound {shadow.MaxDivergence:F2}; {shadow.Matched} boxes matched, {shadow.OnlyActive} only active, {shadow.OnlyCandidate} only candidate)");
        }

        if (shadow.Windows >= shadow.MinWindows && shadow.Divergence > shadow.MaxDivergence)
        {
            text += shadow.CandidateAgreement is { } candidate && shadow.ActiveAgreement is { } active
                ? Invariant($"; on {shadow.Verdicts} disagreement frame(s) judged by FP32 (of {shadow.MinWindows} needed) the candidate agrees {candidate:F3}, the active model {active:F3}")
                : Invariant($"; {shadow.Verdicts} disagreement frame(s) judged by FP32 (of {shadow.MinWindows} needed)");
        }

        return text + ": " + shadow.Decision;
    }

    private static string Describe(IReadOnlyList<DeviceRefusal> refusals) =>
        string.Join("; ", refusals.Take(5).Select(r => $"{r.DeviceId} {r.Stage} ({(r.ReasonCode.Length > 0 ? r.ReasonCode : "no reason code")}){(r.Error.Length > 0 ? ": " + Trim(r.Error) : "")}"))
        + (refusals.Count > 5 ? Invariant($"; and {refusals.Count - 5} more") : "");

    private static string Trim(string text) => text.Length <= 160 ? text : text[..160] + "...";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
