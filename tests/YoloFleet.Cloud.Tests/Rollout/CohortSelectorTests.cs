using YoloFleet.Cloud.Rollout.Planning;

namespace YoloFleet.Cloud.Tests.Rollout;

public sealed class CohortSelectorTests
{
    private static readonly string[] Fleet = [.. Enumerable.Range(0, 20_000).Select(i => $"pi-{i:D5}")];

    [Fact]
    public void A_device_in_an_earlier_stage_is_in_every_later_one()
    {
        foreach (var device in Fleet)
        {
            Assert.True(!CohortSelector.Includes("rollout-7", device, 5) || CohortSelector.Includes("rollout-7", device, 25), device);
            Assert.True(!CohortSelector.Includes("rollout-7", device, 25) || CohortSelector.Includes("rollout-7", device, 100), device);
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(25)]
    [InlineData(50)]
    public void The_share_taken_is_close_to_the_percentage_on_sequential_ids(double percent)
    {
        var share = 100.0 * Fleet.Count(device => CohortSelector.Includes("rollout-7", device, percent)) / Fleet.Length;

        // Binomial: 3 standard deviations of a share of 20,000 devices.
        var tolerance = 300 * Math.Sqrt(percent / 100 * (1 - (percent / 100)) / Fleet.Length);
        Assert.InRange(share, percent - tolerance, percent + tolerance);
    }

    [Fact]
    public void Zero_takes_nobody_a_hundred_takes_everyone_and_rollouts_choose_different_canaries()
    {
        Assert.DoesNotContain(Fleet, device => CohortSelector.Includes("r", device, 0));
        Assert.All(Fleet, device => Assert.True(CohortSelector.Includes("r", device, 100)));
        var first = Fleet.Where(device => CohortSelector.Includes("rollout-1", device, 5)).ToHashSet();
        var second = Fleet.Where(device => CohortSelector.Includes("rollout-2", device, 5)).ToHashSet();
        Assert.InRange(first.Intersect(second).Count(), 0, first.Count / 5);
        Assert.Equal(CohortSelector.Bucket("rollout-1", "pi-00001"), CohortSelector.Bucket("rollout-1", "pi-00001"));
        Assert.Throws<ArgumentOutOfRangeException>(() => CohortSelector.Includes("r", "pi", 101));
    }
}
