using System.Globalization;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Rollout.Planning;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Rollout.Gates;

/// <summary>A group's latency reports: how many, and the median of their inference p95 (null for none).</summary>
public readonly record struct LatencySample(long Count, double? P95Ms);

/// <summary>A stage device whose latest acknowledgement of the candidate is a refusal, failure or roll-back.</summary>
public sealed record DeviceRefusal(string DeviceId, string Stage, string ReasonCode, string Error);

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
    TimeSpan Soaked);

/// <summary>
/// The stage's gates, each candidate against control over the same period: a tampered artifact stops the rollout; too
/// many refusals, a regression in agreement with FP32 (the sequential test) or a slower p95 roll it back; it passes
/// once the test says "no regression", the latency reports are in and the soak time is over. Pure: the grain gathers
/// the figures and acts on the verdict.
/// </summary>
public static class StageGates
{
    public const string Wait = "wait";
    public const string Pass = "pass";
    public const string RollBack = "roll-back";
    public const string Stop = "stop";

    /// <summary>Shadow windows are not reported by agents yet: the gate is documented as not wired (docs/rollout.md).</summary>
    public const string ShadowNotWired = "not wired: agents do not report shadow windows yet";

    /// <summary>Reason codes of an artifact an agent refused as not the one signed (docs/edge-agent.md).</summary>
    public static readonly IReadOnlySet<string> TamperReasonCodes =
        new HashSet<string>(StringComparer.Ordinal) { "unsigned", "unknown-key", "bad-signature", "hash-mismatch", "size-mismatch", "bad-manifest" };

    public static GateReport Decide(GateInputs inputs, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var reading = SequentialAgreementTest.Read(RolloutPlan.Design(inputs.Gates, inputs.Stage), inputs.ControlAgreement, inputs.CandidateAgreement);
        var agreement = new AgreementFigures(
            reading.ControlSamples, reading.ControlMean, reading.CandidateSamples, reading.CandidateMean, reading.LogLikelihoodRatio,
            reading.LowerBound, reading.UpperBound, inputs.Stage.MinAgreementSamples == 0 ? "off" : reading.Decision.ToString(), reading.Truncated);
        var latency = new LatencyFigures(inputs.ControlLatency.Count, inputs.ControlLatency.P95Ms, inputs.CandidateLatency.Count, inputs.CandidateLatency.P95Ms);
        var refusedCodes = inputs.Refusals.Select(r => r.ReasonCode).Concat(inputs.TamperRefusals.Select(r => r.ReasonCode))
            .Where(code => code.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var tamperedDevices = inputs.TamperRefusals.Select(r => r.DeviceId).Distinct(StringComparer.Ordinal).Count();
        var refusals = new RefusalFigures(inputs.StageDevices, inputs.Refusals.Count, refusedCodes, tamperedDevices, Describe(inputs.TamperRefusals.Count > 0 ? inputs.TamperRefusals : inputs.Refusals));

        GateReport Report(string verdict, string reason) => new(at, verdict, reason, agreement, latency, refusals, inputs.Soaked, ShadowNotWired);

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

        if (inputs.Stage.MinAgreementSamples > 0 && reading.Decision == SequentialDecision.Regression)
        {
            return Report(RollBack, "agreement with FP32 regressed: " + reading);
        }

        var latencyGate = inputs.Stage.MinLatencySamples > 0;
        var latencyReady = latencyGate && inputs.ControlLatency.Count >= inputs.Stage.MinLatencySamples && inputs.CandidateLatency.Count >= inputs.Stage.MinLatencySamples
            && inputs.ControlLatency.P95Ms is not null && inputs.CandidateLatency.P95Ms is not null;
        if (latencyReady && inputs.CandidateLatency.P95Ms > inputs.ControlLatency.P95Ms * inputs.Gates.MaxLatencyRatio)
        {
            return Report(RollBack, Invariant(
                $"latency p95 {inputs.CandidateLatency.P95Ms:F1} ms on the candidate against {inputs.ControlLatency.P95Ms:F1} ms on the control, over {inputs.Gates.MaxLatencyRatio:F2}x (n={inputs.CandidateLatency.Count}/{inputs.ControlLatency.Count})"));
        }

        var waiting = new List<string>();
        if (inputs.Soaked < inputs.Stage.MinSoak)
        {
            waiting.Add(Invariant($"soak {inputs.Soaked.TotalSeconds:F0} s of {inputs.Stage.MinSoak.TotalSeconds:F0} s"));
        }

        if (inputs.Stage.MinAgreementSamples > 0 && reading.Decision != SequentialDecision.NoRegression)
        {
            waiting.Add("agreement test undecided: " + reading);
        }

        if (latencyGate && !latencyReady)
        {
            waiting.Add(Invariant(
                $"latency reports {inputs.CandidateLatency.Count} candidate / {inputs.ControlLatency.Count} control of {inputs.Stage.MinLatencySamples} each"));
        }

        return waiting.Count > 0
            ? Report(Wait, "waiting for " + string.Join("; ", waiting))
            : Report(Pass, Invariant($"gates passed: {(inputs.Stage.MinAgreementSamples > 0 ? reading.ToString() : "agreement gate off")}; ") +
                (latencyGate ? Invariant($"latency p95 {inputs.CandidateLatency.P95Ms:F1} ms vs {inputs.ControlLatency.P95Ms:F1} ms; ") : "latency gate off; ") +
                Invariant($"{inputs.Refusals.Count} of {inputs.StageDevices} device(s) refused; soaked {inputs.Soaked.TotalSeconds:F0} s"));
    }

    private static string Describe(IReadOnlyList<DeviceRefusal> refusals) =>
        string.Join("; ", refusals.Take(5).Select(r => $"{r.DeviceId} {r.Stage} ({(r.ReasonCode.Length > 0 ? r.ReasonCode : "no reason code")}){(r.Error.Length > 0 ? ": " + Trim(r.Error) : "")}"))
        + (refusals.Count > 5 ? Invariant($"; and {refusals.Count - 5} more") : "");

    private static string Trim(string text) => text.Length <= 160 ? text : text[..160] + "...";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
