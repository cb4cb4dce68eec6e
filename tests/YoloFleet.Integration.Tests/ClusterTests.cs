using Microsoft.Extensions.DependencyInjection;
using YoloFleet.Cli;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>Several silos on one machine, sharing Redis membership and the broker's shared subscription.</summary>
[Trait("Category", "ClusterFaults")]
public sealed class ClusterTests : IClassFixture<PostgresDatabase>
{
    private readonly PostgresDatabase _database;

    public ClusterTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Two_silos_form_one_cluster_share_the_load_and_store_every_frame_once()
    {
        await TestServices.RequireMosquittoAsync();
        var redis = await TestServices.RequireRedisAsync();
        var clusterId = "cluster-" + Guid.NewGuid().ToString("N")[..8];
        await using var siloA = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, TestServices.Mosquitto, redis: redis, clusterId: clusterId);
        await using var siloB = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, TestServices.Mosquitto, redis: redis, clusterId: clusterId);

        // Membership: each silo sees both as active.
        var management = siloA.CloudServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var hosts = await WaitForAsync(async () => await management.GetHosts(onlyActive: true), h => h.Count == 2);
        Assert.Equal(2, hosts.Count);

        const int Devices = 4;
        const int FramesEach = 10;
        var run = Guid.NewGuid().ToString("N")[..6];
        await Task.WhenAll(Enumerable.Range(0, Devices).Select(d => siloA.RunAgentAsync(
            $"cluster-{run}-{d}", SharedData.YoloxNano416, SharedData.Coco128Images, FramesEach, null, CancellationToken.None)));

        var expected = Devices * FramesEach;
        await WaitForAsync(
            () => Task.FromResult(siloA.Counters.Snapshot().FramesCommitted + siloB.Counters.Snapshot().FramesCommitted),
            n => n >= expected);
        var committedA = siloA.Counters.Snapshot().FramesCommitted;
        var committedB = siloB.Counters.Snapshot().FramesCommitted;
        Assert.Equal(expected, committedA + committedB);
        Assert.True(committedA > 0 && committedB > 0, $"the load did not spread: silo A {committedA}, silo B {committedB}");

        var stored = await _database.QueryAsync(
            $"SELECT count(*), count(DISTINCT (device_id, sequence)) FROM frames WHERE device_id LIKE 'cluster-{run}-%'",
            r => (Rows: r.GetInt64(0), Distinct: r.GetInt64(1)));
        Assert.Equal((expected, expected), (stored[0].Rows, stored[0].Distinct));

        // A device's grain is one activation in the cluster, whichever silo asks.
        var viaA = await siloA.GetDeviceAsync($"cluster-{run}-0");
        var viaB = await siloB.GetDeviceAsync($"cluster-{run}-0");
        Assert.Equal(FramesEach, viaA.Frames);
        Assert.Equal(viaA, viaB);
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var value = await read();
        for (var i = 0; i < 600 && !done(value); i++)
        {
            await Task.Delay(50);
            value = await read();
        }

        return value;
    }
}
