using Microsoft.Extensions.Time.Testing;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class HardFramePolicyTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(0.45f, HardFrameReason.Uncertain)]
    [InlineData(0.30f, HardFrameReason.Uncertain)]
    [InlineData(0.60f, HardFrameReason.Uncertain)]
    [InlineData(0.61f, HardFrameReason.None)]
    [InlineData(0.95f, HardFrameReason.None)]
    public void The_top_score_in_the_uncertainty_band_makes_a_frame_hard(float top, HardFrameReason expected)
    {
        var policy = Policy(new HardFrameOptions { SampleRate = 0 });
        Assert.Equal(expected, policy.Evaluate([Box(top), Box(0.2f)]));
    }

    [Fact]
    public void An_empty_frame_is_not_uncertain()
    {
        Assert.Equal(HardFrameReason.None, Policy(new HardFrameOptions { SampleRate = 0 }).Evaluate([]));
    }

    [Fact]
    public void Many_low_confidence_boxes_make_a_frame_crowded()
    {
        var policy = Policy(new HardFrameOptions { SampleRate = 0, CrowdedMinBoxes = 5, LowConfidenceScore = 0.45f });
        var crowded = Enumerable.Repeat(Box(0.26f), 5).Append(Box(0.9f)).ToList();
        Assert.Equal(HardFrameReason.Crowded, policy.Evaluate(crowded));
        Assert.Equal(HardFrameReason.None, policy.Evaluate(crowded.Skip(1).ToList()));
    }

    [Fact]
    public void Random_sampling_picks_about_the_configured_share()
    {
        var policy = new HardFramePolicy(new HardFrameOptions { SampleRate = 0.1, BudgetPerHour = 100_000 }, _time, new Random(7));
        var picked = Enumerable.Range(0, 10_000).Count(_ => policy.Evaluate([Box(0.95f)]) == HardFrameReason.Sampled);
        Assert.InRange(picked, 850, 1150);
    }

    [Fact]
    public void The_hourly_budget_is_a_sliding_window()
    {
        var policy = Policy(new HardFrameOptions { SampleRate = 0, BudgetPerHour = 3 });
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HardFrameReason.Uncertain, policy.Evaluate([Box(0.5f)]));
            _time.Advance(TimeSpan.FromMinutes(10));
        }

        Assert.Equal(HardFrameReason.None, policy.Evaluate([Box(0.5f)]));
        Assert.Equal(1, policy.SkippedOverBudget);

        // 60 minutes after the first pick, one slot frees up; the other two are still inside the hour.
        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(HardFrameReason.Uncertain, policy.Evaluate([Box(0.5f)]));
        Assert.Equal(HardFrameReason.None, policy.Evaluate([Box(0.5f)]));
        Assert.Equal(4, policy.Selected);
        Assert.Equal(2, policy.SkippedOverBudget);
    }

    [Fact]
    public void A_disabled_policy_picks_nothing()
    {
        Assert.Equal(HardFrameReason.None, Policy(new HardFrameOptions { Enabled = false, SampleRate = 1 }).Evaluate([Box(0.5f)]));
    }

    private HardFramePolicy Policy(HardFrameOptions options) => new(options, _time, new Random(1));

    private static Detection Box(float score) => new(0, score, 10, 10, 50, 50);
}
