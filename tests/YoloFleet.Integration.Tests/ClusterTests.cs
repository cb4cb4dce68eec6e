using Microsoft.Extensions.DependencyInjection;
using YoloFleet.Cli;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>Several silos on one machine, sharing Redis membership and the broker's shared subscription.</summary>
[Trait("Category", "ClusterFaults")]
public sealed class ClusterTests : IClassFixture<PostgresDatabase>, IClassFixture<PrivateMosquitto>
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);
    private readonly PostgresDatabase _database;
    private readonly (string Host, int Port) _broker;

    public ClusterTests(PostgresDatabase database, PrivateMosquitto broker)
    {
        _database = database;

        // A broker of this class's own: the silos count every message they get, so no other test's traffic may reach them.
        _broker = broker.Endpoint;
    }

    [Fact]
    public async Task Two_silos_form_one_cluster_share_the_load_and_store_every_frame_once()
    {
        var redis = await TestServices.RequireRedisAsync();
        var clusterId = "cluster-" + Guid.NewGuid().ToString("N")[..8];
        await using var siloA = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, _broker, redis: redis, clusterId: clusterId);
        await using var siloB = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, _broker, redis: redis, clusterId: clusterId);

        // Membership: each silo sees both as active.
        var management = siloA.CloudServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var hosts = await Poll.UntilAsync(async () => await management.GetHosts(onlyActive: true), h => h.Count == 2, Settle);
        Assert.Equal(2, hosts.Count);

        const int Devices = 4;
        const int FramesEach = 10;
        var run = Guid.NewGuid().ToString("N")[..6];
        await Task.WhenAll(Enumerable.Range(0, Devices).Select(d => siloA.RunAgentAsync(
            $"cluster-{run}-{d}", SharedData.YoloxNano416, SharedData.Coco128Images, FramesEach, null, CancellationToken.None)));

        var expected = Devices * FramesEach;
        await Poll.UntilAsync(
            () => Task.FromResult(siloA.Counters.Snapshot().FramesCommitted + siloB.Counters.Snapshot().FramesCommitted),
            n => n >= expected,
            Settle);
        var committedA = siloA.Counters.Snapshot().FramesCommitted;
        var committedB = siloB.Counters.Snapshot().FramesCommitted;
        Assert.Equal(expected, committedA + committedB);
        Assert.True(committedA > 0 && committedB > 0, $"the load did not spread: silo A {committedA}, silo B {committedB}");

        var stored = await _database.QueryAsync(
            $"SELECT count(*), count(DISTINCT (device_id, sequence)) FROM frames WHERE device_id LIKE 'cluster-{run}-%'",
            r => (Rows: r.GetInt64(0), Distinct: r.GetInt64(1)));
        Assert.Equal((expected, expected), (stored[0].Rows, stored[0].Distinct));

        // A device's grain is one activation in the cluster, whichever silo asks (it hears of commits within a second).
        var viaA = await Poll.UntilAsync(() => siloA.GetDeviceAsync($"cluster-{run}-0"), s => s.Frames == FramesEach, Settle);
        var viaB = await siloB.GetDeviceAsync($"cluster-{run}-0");
        Assert.Equal(FramesEach, viaA.Frames);
        Assert.Equal(viaA, viaB);
    }

    [Fact]
    [Trait("Category", "Faults")]
    public async Task A_silo_killed_mid_stream_and_restarted_loses_and_duplicates_nothing()
    {
        var redis = await TestServices.RequireRedisAsync();
        var clusterId = "kill-" + Guid.NewGuid().ToString("N")[..8];
        await using var siloA = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, _broker, redis: redis, clusterId: clusterId);

        // Silo B runs as its own process so it can really be SIGKILLed; its restart keeps its MQTT session name.
        await using var siloB = new SiloProcess(
            _database.ConnectionString, _broker, redis, clusterId, "kill-silo-" + Guid.NewGuid().ToString("N")[..6]);
        await siloB.StartAsync();

        const int Devices = 3;
        const int FramesEach = 40;
        var run = Guid.NewGuid().ToString("N")[..6];
        // A message silo B acknowledged at the broker but died holding is only sent again when its confirmation is overdue:
        // a short confirmation timeout and a drain that outlasts it let the last frames of a device come round again.
        var redelivery = new Dictionary<string, string?>
        {
            ["Agent:Delivery:ConfirmTimeout"] = "00:00:04",
            ["Agent:Delivery:MaxResendInterval"] = "00:00:15",
            ["Agent:DrainTimeout"] = "00:03:00",
        };
        var agents = Task.WhenAll(Enumerable.Range(0, Devices).Select(d => siloA.RunAgentAsync(
            $"kill-{run}-{d}", SharedData.YoloxNano416, SharedData.Coco128Images, FramesEach, null, CancellationToken.None, settings: redelivery)));

        var before = await Poll.UntilAsync(async () => (await siloB.StatsAsync())?.FramesCommitted ?? 0, n => n >= 5, Settle);
        Assert.True(before >= 5, "silo B never took a share of the stream");
        siloB.Kill();
        await Task.Delay(TimeSpan.FromSeconds(1));
        await siloB.StartAsync();
        await agents.WaitAsync(TimeSpan.FromMinutes(4));

        var expected = Devices * FramesEach;
        var stored = await Poll.UntilAsync(
            async () => (await _database.QueryAsync(
                $"SELECT count(*), count(DISTINCT (device_id, sequence)) FROM frames WHERE device_id LIKE 'kill-{run}-%'",
                r => (Rows: r.GetInt64(0), Distinct: r.GetInt64(1))))[0],
            s => s.Rows >= expected,
            Settle);
        Assert.Equal((expected, expected), (stored.Rows, stored.Distinct));
    }
}
