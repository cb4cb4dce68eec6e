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
        Assert.Equal(StageGates.ShadowNotWired, report.Shadow);
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
