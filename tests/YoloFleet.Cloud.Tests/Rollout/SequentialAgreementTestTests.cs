using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Tests.Rollout;

/// <summary>
/// The sequential test's error rates, measured on simulated agreement streams with known effect sizes: many simulated
/// stages, each fed samples until the test decides. The rates must stay within what docs/rollout.md states (α and β,
/// plus three binomial standard errors of the simulation itself). Seeds are fixed, so a run is repeatable.
/// </summary>
public sealed class SequentialAgreementTestTests
{
    private const int Repetitions = 2000;

    // A per-frame agreement stream like the verifier's: a share of frames agree perfectly, the rest spread over [0, 1).
    private static double Sample(Random random, double mean)
    {
        var perfect = (2 * mean) - 1; // mean = perfect + (1 - perfect) / 2
        return random.NextDouble() < perfect ? 1 : random.NextDouble();
    }

    /// <summary>Runs one simulated stage to a decision; candidate samples arrive <paramref name="candidateShare"/> as often as control ones.</summary>
    private static SequentialTestReading RunStage(SequentialTestDesign design, Random random, double controlMean, double candidateMean, double candidateShare)
    {
        var test = new SequentialAgreementTest(design);
        var credit = 0.0;
        while (true)
        {
            test.AddControl(Sample(random, controlMean));
            for (credit += candidateShare; credit >= 1; credit--)
            {
                test.AddCandidate(Sample(random, candidateMean));
            }

            var reading = test.Read();
            if (reading.Decision != SequentialDecision.Continue)
            {
                return reading;
            }
        }
    }

    private static double Rate(int count) => (double)count / Repetitions;

    private static double Bound(double rate) => rate + (3 * Math.Sqrt(rate * (1 - rate) / Repetitions));

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.25)]
    public void Without_a_regression_the_false_rollback_rate_stays_within_alpha(double candidateShare)
    {
        var design = new SequentialTestDesign(Regression: 0.05, FalseRollback: 0.05, MissedRegression: 0.05);
        var random = new Random(20261207);

        var rollbacks = Enumerable.Range(0, Repetitions).Count(_ => RunStage(design, random, 0.80, 0.80, candidateShare).Decision == SequentialDecision.Regression);

        Assert.True(Rate(rollbacks) <= Bound(design.FalseRollback), $"false rollbacks {Rate(rollbacks):P2} > {Bound(design.FalseRollback):P2}");
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.25)]
    public void With_the_designed_regression_the_missed_regression_rate_stays_within_beta(double candidateShare)
    {
        var design = new SequentialTestDesign(Regression: 0.05, FalseRollback: 0.05, MissedRegression: 0.05);
        var random = new Random(7);

        var missed = Enumerable.Range(0, Repetitions).Count(_ => RunStage(design, random, 0.80, 0.75, candidateShare).Decision == SequentialDecision.NoRegression);

        Assert.True(Rate(missed) <= Bound(design.MissedRegression), $"missed regressions {Rate(missed):P2} > {Bound(design.MissedRegression):P2}");
    }

    [Fact]
    public void A_larger_regression_is_caught_sooner_and_a_better_candidate_passes_sooner_than_an_equal_one()
    {
        var design = new SequentialTestDesign(Regression: 0.03);
        double MeanSamples(double candidateMean, SequentialDecision expected)
        {
            var random = new Random(11);
            var readings = Enumerable.Range(0, 200).Select(_ => RunStage(design, random, 0.80, candidateMean, 1.0)).ToList();
            Assert.True(readings.Count(r => r.Decision == expected) >= 190, $"candidate {candidateMean}: {readings.Count(r => r.Decision == expected)} of 200 {expected}");
            return readings.Average(r => r.CandidateSamples);
        }

        var small = MeanSamples(0.77, SequentialDecision.Regression);
        var large = MeanSamples(0.70, SequentialDecision.Regression);
        var equal = MeanSamples(0.80, SequentialDecision.NoRegression);
        var better = MeanSamples(0.83, SequentialDecision.NoRegression);

        Assert.True(large < small / 3, $"a 10-point regression took {large:F0} samples, a 3-point one {small:F0}");
        Assert.True(better < equal, $"a better candidate took {better:F0} samples to pass, an equal one {equal:F0}");

        // Wald's approximation (no overshoot) is within a factor of two of what the simulation needs.
        var sd = Math.Sqrt(((0.6 + (0.4 / 3)) - (0.8 * 0.8)));
        var (underRegression, underNone) = design.ExpectedSamplesPerGroup(sd);
        Assert.InRange(small / underRegression, 0.5, 2.0);
        Assert.InRange(equal / underNone, 0.5, 2.0);
    }

    [Fact]
    public void No_decision_before_the_minimum_samples_even_on_a_glaring_difference()
    {
        var test = new SequentialAgreementTest(new SequentialTestDesign(MinSamplesPerGroup: 30));
        for (var i = 0; i < 29; i++)
        {
            test.AddControl(1);
            test.AddCandidate(0);
        }

        Assert.Equal(SequentialDecision.Continue, test.Read().Decision);
        test.AddControl(1);
        test.AddCandidate(0);
        Assert.Equal(SequentialDecision.Regression, test.Read().Decision);
    }

    [Fact]
    public void Truncation_decides_for_the_nearer_hypothesis_and_says_so()
    {
        var design = new SequentialTestDesign(Regression: 0.10, MinSamplesPerGroup: 2, MaxSamplesPerGroup: 40, VarianceFloor: 0.25);
        var test = new SequentialAgreementTest(design);
        var random = new Random(3);
        for (var i = 0; i < 40; i++)
        {
            test.AddControl(random.NextDouble());
            test.AddCandidate(random.NextDouble() * 0.9);
        }

        var reading = test.Read();
        Assert.NotEqual(SequentialDecision.Continue, reading.Decision);
        Assert.Equal(reading.LogLikelihoodRatio > 0 ? SequentialDecision.Regression : SequentialDecision.NoRegression, reading.Decision);
        Assert.True(reading.Truncated || reading.LogLikelihoodRatio >= design.UpperBound || reading.LogLikelihoodRatio <= design.LowerBound);
    }

    [Fact]
    public void Moments_merged_from_parts_equal_moments_of_the_whole_and_the_verdict_follows()
    {
        var random = new Random(5);
        var values = Enumerable.Range(0, 500).Select(_ => random.NextDouble()).ToArray();
        var whole = values.Aggregate(default(RunningMoments), (m, v) => m.Add(v));
        var parts = values.Chunk(37).Select(chunk => chunk.Aggregate(default(RunningMoments), (m, v) => m.Add(v))).Aggregate(default(RunningMoments), (a, b) => a.Merge(b));

        Assert.Equal(whole.Count, parts.Count);
        Assert.Equal(whole.Mean, parts.Mean, 12);
        Assert.Equal(whole.Variance, parts.Variance, 12);
        var mean = values.Average();
        Assert.Equal(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1), whole.Variance, 12);
    }

    [Fact]
    public void Agreement_samples_are_matched_over_all_boxes_and_one_when_both_models_found_nothing()
    {
        Assert.Equal(1.0, AgreementSample.FromCounts(0, 0, 0));
        Assert.Equal(0.5, AgreementSample.FromCounts(2, 1, 1));
        Assert.Equal(0.0, AgreementSample.FromCounts(0, 3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequentialAgreementTest(new SequentialTestDesign()).AddControl(1.2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequentialTestDesign(Regression: 0).Validate());
    }
}
