using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Rollout.Planning;

namespace YoloFleet.Cloud.Tests.Rollout;

public sealed class RolloutPlanTests
{
    private static readonly string[] Fleet = [.. Enumerable.Range(0, 20).Select(i => $"pi-{i:D2}")];

    [Fact]
    public void The_default_stages_are_valid_and_end_at_the_whole_target()
    {
        Assert.Null(RolloutPlan.Validate(RolloutPlan.DefaultStages, new RolloutGates()));
        Assert.Equal([5.0, 25, 100], RolloutPlan.DefaultStages.Select(s => s.Percent));
    }

    [Theory]
    [InlineData("[]", "1 to 10 stages")]
    [InlineData("0", "not in (0, 100]")]
    [InlineData("25,5,100", "does not grow")]
    [InlineData("5,25", "last stage must take 100 %")]
    public void Bad_stages_are_refused_with_what_is_wrong(string percents, string expected)
    {
        var stages = percents == "[]" ? [] : percents.Split(',').Select(p => new RolloutStageSpec(double.Parse(p, System.Globalization.CultureInfo.InvariantCulture), TimeSpan.Zero, 10, 0)).ToArray();
        Assert.Contains(expected, RolloutPlan.Validate(stages, new RolloutGates()), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_gates_and_sample_minimums_are_refused()
    {
        RolloutStageSpec[] one = [new(100, TimeSpan.Zero, 10, 0)];
        Assert.Contains("gates:", RolloutPlan.Validate(one, new RolloutGates(Regression: 0)), StringComparison.Ordinal);
        Assert.Contains("maxLatencyRatio", RolloutPlan.Validate(one, new RolloutGates(MaxLatencyRatio: 0.5)), StringComparison.Ordinal);
        Assert.Contains("maxRefusalShare", RolloutPlan.Validate(one, new RolloutGates(MaxRefusalShare: 2)), StringComparison.Ordinal);
        Assert.Contains("minAgreementSamples", RolloutPlan.Validate([new(100, TimeSpan.Zero, 1, 0)], new RolloutGates()), StringComparison.Ordinal);
        Assert.Contains("minSoak", RolloutPlan.Validate([new(100, TimeSpan.FromSeconds(-1), 10, 0)], new RolloutGates()), StringComparison.Ordinal);
    }

    [Fact]
    public void Shadow_stages_come_first_grow_among_themselves_and_never_end_the_plan()
    {
        static RolloutStageSpec S(double percent, bool shadow = false) => new(percent, TimeSpan.Zero, 10, 0, shadow);
        Assert.Null(RolloutPlan.Validate([S(25, shadow: true), S(5), S(25), S(100)], new RolloutGates()));
        Assert.Null(RolloutPlan.Validate([S(5, shadow: true), S(100, shadow: true), S(100)], new RolloutGates()));
        Assert.Contains("shadow stage must come before", RolloutPlan.Validate([S(5), S(25, shadow: true), S(100)], new RolloutGates()), StringComparison.Ordinal);
        Assert.Contains("does not grow", RolloutPlan.Validate([S(25, shadow: true), S(5, shadow: true), S(100)], new RolloutGates()), StringComparison.Ordinal);
        Assert.Contains("not shadow it", RolloutPlan.Validate([S(100, shadow: true)], new RolloutGates()), StringComparison.Ordinal);
        Assert.Contains("minShadowWindows", RolloutPlan.Validate([new(100, TimeSpan.Zero, 10, 0, false, -1)], new RolloutGates()), StringComparison.Ordinal);
        Assert.Contains("maxShadowDivergence", RolloutPlan.Validate([S(100)], new RolloutGates(MaxShadowDivergence: 1.5)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_roll_back_reaches_every_device_that_shadowed_the_candidate_or_runs_it()
    {
        RolloutStageSpec[] stages = [new(50, TimeSpan.Zero, 10, 0, Shadow: true), new(5, TimeSpan.Zero, 10, 0), new(100, TimeSpan.Zero, 10, 0)];
        for (var rollout = 0; rollout < 20; rollout++)
        {
            var key = $"ro-{rollout:D32}";
            var shadowed = RolloutPlan.StageDevices(key, Fleet, 50);
            Assert.Equal(shadowed, RolloutPlan.DevicesWithCandidate(key, Fleet, stages, 0));
            var inFirstSwitch = RolloutPlan.DevicesWithCandidate(key, Fleet, stages, 1);
            Assert.Equal(Fleet.Where(d => shadowed.Contains(d) || RolloutPlan.StageDevices(key, Fleet, 5).Contains(d)), inFirstSwitch);
            Assert.Equal(Fleet, RolloutPlan.DevicesWithCandidate(key, Fleet, stages, 2));
        }
    }

    [Fact]
    public void A_device_in_an_earlier_stage_stays_in_every_later_one_and_a_stage_is_never_empty()
    {
        for (var rollout = 0; rollout < 50; rollout++)
        {
            var key = $"ro-{rollout:D32}";
            var five = RolloutPlan.StageDevices(key, Fleet, 5);
            var quarter = RolloutPlan.StageDevices(key, Fleet, 25);
            var all = RolloutPlan.StageDevices(key, Fleet, 100);
            Assert.NotEmpty(five);
            Assert.Subset(quarter.ToHashSet(), five.ToHashSet());
            Assert.Subset(all.ToHashSet(), quarter.ToHashSet());
            Assert.Equal(Fleet, all);
            Assert.Equal(five, RolloutPlan.StageDevices(key, Fleet, 5));
        }
    }

    [Theory]
    [InlineData("running", "promote", true)]
    [InlineData("paused", "promote", true)]
    [InlineData("running", "pause", true)]
    [InlineData("paused", "pause", false)]
    [InlineData("paused", "resume", true)]
    [InlineData("running", "resume", false)]
    [InlineData("running", "abort", true)]
    [InlineData("paused", "abort", true)]
    [InlineData("completed", "abort", false)]
    [InlineData("rolled-back", "promote", false)]
    [InlineData("stopped", "resume", false)]
    [InlineData("aborted", "pause", false)]
    public void Operator_commands_follow_the_state_machine(string state, string command, bool allowed)
    {
        var refusal = RolloutTransitions.Refusal(state, command);
        Assert.Equal(allowed, refusal is null);
        if (!allowed)
        {
            Assert.Contains(state, refusal, StringComparison.Ordinal);
        }
    }
}
