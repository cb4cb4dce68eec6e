using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Rollout.Gates;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Tests.Rollout;

public sealed class StageGatesTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly RolloutStageSpec Stage = new(25, TimeSpan.FromMinutes(10), 50, 5);

    private static RunningMoments Stream(int count, double mean, int seed)
    {
        var random = new Random(seed);
        var moments = default(RunningMoments);
        for (var i = 0; i < count; i++)
        {
            moments = moments.Add(StageSimulation.Sample(random, mean));
        }

        return moments;
    }

    private static GateInputs Inputs(
        double candidateMean = 0.80, int samples = 2000, double candidateP95 = 30, long latencyReports = 10, TimeSpan? soaked = null,
        IReadOnlyList<DeviceRefusal>? refusals = null, IReadOnlyList<DeviceRefusal>? tampered = null) =>
        new(Stage, new RolloutGates(Regression: 0.05), Stream(samples, 0.80, 1), Stream(samples, candidateMean, 2), new LatencySample(latencyReports, 30),
            new LatencySample(latencyReports, candidateP95), 5, refusals ?? [], tampered ?? [], soaked ?? TimeSpan.FromMinutes(11));

    [Fact]
    public void A_candidate_as_good_as_the_control_passes_once_soaked_and_sampled()
    {
        var report = StageGates.Decide(Inputs(), At);
        Assert.Equal(StageGates.Pass, report.Verdict);
        Assert.Equal("NoRegression", report.Agreement.Decision);
        Assert.Equal(2000, report.Agreement.CandidateSamples);
        // No shadow windows in a stage that switches devices: the shadow gate does not hold it up.
        Assert.Equal(StageGates.ShadowNotGated, report.ShadowWindows!.Decision);
        Assert.StartsWith("0 window(s) of 10", report.Shadow, StringComparison.Ordinal);
    }

    [Fact]
    public void It_waits_for_the_soak_the_samples_and_the_latency_reports()
    {
        var early = StageGates.Decide(Inputs(soaked: TimeSpan.FromMinutes(3)), At);
        Assert.Equal(StageGates.Wait, early.Verdict);
        Assert.Contains("soak 180 s of 600 s", early.Reason, StringComparison.Ordinal);

        var few = StageGates.Decide(Inputs(samples: 20), At);
        Assert.Equal(StageGates.Wait, few.Verdict);
        Assert.Contains("agreement test undecided", few.Reason, StringComparison.Ordinal);

        var quiet = StageGates.Decide(Inputs(latencyReports: 2), At);
        Assert.Equal(StageGates.Wait, quiet.Verdict);
        Assert.Contains("latency reports 2 candidate", quiet.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_regression_in_agreement_rolls_back_before_the_soak_is_over()
    {
        var report = StageGates.Decide(Inputs(candidateMean: 0.70, soaked: TimeSpan.FromMinutes(1)), At);
        Assert.Equal(StageGates.RollBack, report.Verdict);
        Assert.Contains("agreement with FP32 regressed", report.Reason, StringComparison.Ordinal);
        Assert.True(report.Agreement.CandidateMean < report.Agreement.ControlMean - 0.05);
    }

    [Fact]
    public void A_slower_p95_rolls_back()
    {
        var report = StageGates.Decide(Inputs(candidateP95: 45), At);
        Assert.Equal(StageGates.RollBack, report.Verdict);
        Assert.Contains("latency p95 45.0 ms", report.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_refusals_roll_back_and_a_tampered_artifact_stops()
    {
        var refused = StageGates.Decide(Inputs(refusals: [new("pi-01", "rolled-back", "health-latency", "slow"), new("pi-02", "failed", "load-failed", "")]), At);
        Assert.Equal(StageGates.RollBack, refused.Verdict);
        Assert.Equal(2, refused.Refusals.RefusedDevices);
        Assert.Equal(["health-latency", "load-failed"], refused.Refusals.ReasonCodes);

        var one = StageGates.Decide(Inputs(refusals: [new("pi-01", "rolled-back", "health-latency", "slow")]), At);
        Assert.Equal(StageGates.Pass, one.Verdict);

        var tampered = StageGates.Decide(Inputs(tampered: [new("pi-03", "rejected", "hash-mismatch", "sha256 differs")]), At);
        Assert.Equal(StageGates.Stop, tampered.Verdict);
        Assert.Contains("tampered", tampered.Reason, StringComparison.Ordinal);
        Assert.Contains("pi-03 rejected (hash-mismatch)", tampered.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Gates_set_to_zero_samples_are_off()
    {
        var inputs = Inputs(samples: 0, latencyReports: 0) with { Stage = new RolloutStageSpec(100, TimeSpan.Zero, 0, 0) };
        var report = StageGates.Decide(inputs, At);
        Assert.Equal(StageGates.Pass, report.Verdict);
        Assert.Equal("off", report.Agreement.Decision);
    }

    private static readonly RolloutStageSpec ShadowStage = new(25, TimeSpan.FromMinutes(10), 50, 5, Shadow: true, MinShadowWindows: 8);

    /// <summary>A shadow stage: no hard frame or latency report from the candidate (it serves no frame), only windows.</summary>
    private static GateInputs ShadowInputs(ShadowSample shadow, IReadOnlyList<DeviceRefusal>? refusals = null) =>
        Inputs(samples: 0, latencyReports: 0, refusals: refusals) with { Stage = ShadowStage, Shadow = shadow };

    [Fact]
    public void A_shadow_stage_waits_for_its_windows_and_passes_a_candidate_that_diverges_within_the_bound()
    {
        var few = StageGates.Decide(ShadowInputs(new(3, 2, 40, 90, 5, 5)), At);
        Assert.Equal(StageGates.Wait, few.Verdict);
        Assert.Contains("shadow 3 window(s) of 8 from 2 device(s)", few.Reason, StringComparison.Ordinal);
        Assert.Equal(StageGates.ShadowWaiting, few.ShadowWindows!.Decision);

        // 10 of 100 boxes differ: within the default bound of 0.25; the agreement and latency gates are off in shadow.
        var close = StageGates.Decide(ShadowInputs(new(8, 3, 120, 90, 6, 4)), At);
        Assert.Equal(StageGates.Pass, close.Verdict);
        Assert.Equal((0.10, StageGates.ShadowPass, "off"), (close.ShadowWindows!.Divergence, close.ShadowWindows.Decision, close.Agreement.Decision));
        Assert.Contains("latency gate off", close.Reason, StringComparison.Ordinal);
        Assert.Contains("divergence 0.100 (bound 0.25", close.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shadow_candidate_over_the_bound_waits_for_fp32_verdicts_and_rolls_back_unless_it_is_right_more_often()
    {
        // A candidate that finds nothing: every box is the active model's alone.
        var empty = new ShadowSample(8, 3, 120, 0, 100, 0);
        var unjudged = StageGates.Decide(ShadowInputs(empty with { Verdicts = 2, CandidateAgreement = 0, ActiveAgreement = 0.8 }), At);
        Assert.Equal(StageGates.Wait, unjudged.Verdict);
        Assert.Contains("2 disagreement frame(s) judged by FP32 (of 8 needed)", unjudged.Reason, StringComparison.Ordinal);

        var worse = StageGates.Decide(ShadowInputs(empty with { Verdicts = 8, CandidateAgreement = 0.05, ActiveAgreement = 0.8 }), At);
        Assert.Equal(StageGates.RollBack, worse.Verdict);
        Assert.StartsWith("shadow divergence: 8 window(s)", worse.Reason, StringComparison.Ordinal);
        Assert.Contains("divergence 1.000 (bound 0.25", worse.Reason, StringComparison.Ordinal);
        Assert.Contains("the candidate agrees 0.050, the active model 0.800", worse.Reason, StringComparison.Ordinal);
        Assert.Equal(StageGates.ShadowRollBack, worse.ShadowWindows!.Decision);

        // A different model that FP32 says is right more often than the active one where they disagree: it passes.
        var better = StageGates.Decide(ShadowInputs(new(8, 3, 120, 50, 30, 20, 9, 0.7, 0.4)), At);
        Assert.Equal(StageGates.Pass, better.Verdict);
        Assert.Equal(0.5, better.ShadowWindows!.Divergence);

        // A tighter bound set for the rollout applies.
        var strict = StageGates.Decide(ShadowInputs(new(8, 3, 120, 90, 6, 4)) with { Gates = new RolloutGates(MaxShadowDivergence: 0.05) }, At);
        Assert.Equal(StageGates.Wait, strict.Verdict);
    }

    [Fact]
    public void Outside_shadow_stages_windows_gate_only_once_there_are_enough_and_zero_turns_the_gate_off()
    {
        var diverging = new ShadowSample(3, 1, 30, 0, 50, 0, 3, 0, 0.9);
        Assert.Equal(StageGates.Pass, StageGates.Decide(Inputs() with { Shadow = diverging }, At).Verdict);

        var enough = diverging with { Windows = 10, Verdicts = 10 };
        Assert.Equal(StageGates.RollBack, StageGates.Decide(Inputs() with { Shadow = enough }, At).Verdict);

        var off = StageGates.Decide(Inputs() with { Stage = Stage with { MinShadowWindows = 0 }, Shadow = enough }, At);
        Assert.Equal((StageGates.Pass, StageGates.ShadowOff, "gate off"), (off.Verdict, off.ShadowWindows!.Decision, off.Shadow));
    }

    [Fact]
    public void The_simulated_bench_catches_large_regressions_and_passes_none()
    {
        var design = new SequentialTestDesign(Regression: 0.03);
        var fleet = new StageSimulationSettings(Devices: 100, StagePercent: 25);
        var none = StageSimulation.Run(design, fleet, 0, 100, new Random(1));
        var large = StageSimulation.Run(design, fleet, 0.10, 100, new Random(2));
        Assert.True(none.RollbackShare < 0.15, $"rolled back {none.RollbackShare:P0} of good candidates");
        Assert.True(large.RollbackShare > 0.95, $"caught only {large.RollbackShare:P0} of 10-point regressions");
        Assert.True(large.MedianCandidateFrames < none.MedianCandidateFrames, "a large regression should be decided sooner than none");
        Assert.True(large.MedianHours > 0);
    }
}
