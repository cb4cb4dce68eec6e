using YoloFleet.Cli;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>The fault tests of issue 16 that take away the database or a device's network (docs/reliability.md).</summary>
public sealed partial class DeliveryTests
{
    /// <summary>How long one device is cut off: 90 s rather than minutes, to keep the CI run bounded (docs/reliability.md).</summary>
    private static readonly TimeSpan DeviceOutage = TimeSpan.FromSeconds(90);

    /// <summary>
    /// PostgreSQL (a private server: the shared one stays up) stopped with <c>-m immediate</c> while three devices stream,
    /// then started again 5 s later: the silo's writes fail and are counted, it retries by itself, and every number the
    /// devices used is stored exactly once.
    /// </summary>
    [Fact]
    [Trait("Category", "Faults")]
    public async Task PostgreSQL_restarted_mid_stream_loses_and_duplicates_nothing()
    {
        await using var postgres = new PrivatePostgresLifetime();
        await postgres.Server.InitializeAsync();
        var database = postgres.Server.ConnectionString;
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var run = Guid.NewGuid().ToString("N")[..6];
        string[] devices = [$"pgr-{run}-0", $"pgr-{run}-1", $"pgr-{run}-2"];
        var states = devices.Select(StateDirectory).ToArray();
        var agents = new List<AgentProcess>();
        try
        {
            await using var fleet = await LocalFleet.StartCloudAsync(database, CancellationToken.None, broker.Endpoint, clusterId: "pgr-" + run);
            await RegisterAsync(devices, database);
            agents.AddRange(devices.Select((d, i) => new AgentProcess(AgentSettings(d, states[i], broker.Endpoint.Port, frames: 120, fps: 8))));

            var before = await Poll.UntilAsync(() => Task.FromResult(fleet.Counters.Snapshot().FramesCommitted), n => n >= 20, TimeSpan.FromSeconds(120));
            Assert.True(before >= 20, "the silo never committed a frame: " + agents[0].Tail());

            await postgres.Server.StopImmediatelyAsync();

            // The outage itself, not a synchronisation: the devices keep publishing into it, and the server stays down
            // until the silo has seen a write fail.
            await Task.Delay(TimeSpan.FromSeconds(5));
            var failures = await Poll.UntilAsync(() => Task.FromResult(fleet.Counters.Snapshot().WriteFailures), n => n > 0, TimeSpan.FromSeconds(60));
            var committedAtRestart = fleet.Counters.Snapshot().FramesCommitted;
            await postgres.Server.StartAsync();

            foreach (var agent in agents)
            {
                await agent.WaitForExitAsync(AgentRun);
                Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");
            }

            // Counted while the server was down, and the same silo went on committing once it was back.
            Assert.True(failures > 0, "no write failed while PostgreSQL was down");
            Assert.True(fleet.Counters.Snapshot().FramesCommitted > committedAtRestart, "the silo committed nothing after PostgreSQL came back");
            for (var i = 0; i < devices.Length; i++)
            {
                var account = await AccountAsync(devices[i], LastSequence(states[i]), agents[i].Tail, database);
                Assert.Empty(account.Drops);
                Assert.Equal(120, account.Frames);
            }
        }
        finally
        {
            await DisposeAllAsync(agents, [], broker, states);
        }
    }

    /// <summary>
    /// One device's link to the broker cut (a <see cref="TcpOutageProxy"/>) for <see cref="DeviceOutage"/> while it keeps
    /// capturing; two others stream on. After the link is back every frame of every device is stored exactly once.
    /// </summary>
    [Fact]
    [Trait("Category", "Faults")]
    public async Task A_device_cut_off_for_minutes_delivers_everything_exactly_once_afterwards()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var run = Guid.NewGuid().ToString("N")[..6];
        string[] devices = [$"cut-{run}-0", $"cut-{run}-1", $"cut-{run}-2"];
        await RegisterAsync(devices);
        var states = devices.Select(StateDirectory).ToArray();
        var agents = new List<AgentProcess>();
        try
        {
            await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, broker.Endpoint, clusterId: "cut-" + run);
            await using var link = new TcpOutageProxy(broker.Endpoint.Port);

            // 2 frames a second for 120 s: the cut device captures through the whole outage.
            const int Frames = 240;
            agents.Add(new AgentProcess(AgentSettings(devices[0], states[0], link.Port, frames: Frames, fps: 2)));
            agents.AddRange(devices.Skip(1).Select((d, i) => new AgentProcess(AgentSettings(d, states[i + 1], broker.Endpoint.Port, frames: Frames, fps: 2))));

            var early = await Poll.UntilAsync(() => FramesAsync(devices[0]), n => n >= 10, TimeSpan.FromSeconds(120));
            Assert.True(early >= 10, "the device never delivered before the cut: " + agents[0].Tail());
            link.Cut();
            var cutAtCut = await FramesAsync(devices[0]);
            var othersAtCut = await FramesAsync(devices[1]) + await FramesAsync(devices[2]);

            // The outage itself, not a synchronisation.
            await Task.Delay(DeviceOutage);
            var othersAtRestore = await FramesAsync(devices[1]) + await FramesAsync(devices[2]);
            var cutAtRestore = await FramesAsync(devices[0]);
            Assert.False(agents[0].HasExited, "the cut device gave up during the outage:" + Environment.NewLine + agents[0].Tail());
            link.Restore();

            // Nothing of the cut device got through but what was already on its way at the cut.
            Assert.InRange(cutAtRestore, cutAtCut, cutAtCut + 32);
            Assert.True(othersAtRestore > othersAtCut + 100, $"the other devices did not stream on: {othersAtCut} frames at the cut, {othersAtRestore} at the restore");
            foreach (var agent in agents)
            {
                await agent.WaitForExitAsync(AgentRun);
                Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");
            }

            for (var i = 0; i < devices.Length; i++)
            {
                var account = await AccountAsync(devices[i], LastSequence(states[i]), agents[i].Tail);
                Assert.Empty(account.Drops);
                Assert.Equal(Frames, account.Frames);
            }
        }
        finally
        {
            await DisposeAllAsync(agents, [], broker, states);
        }
    }

    private async Task<long> FramesAsync(string device) =>
        (await _database.QueryAsync($"SELECT count(*) FROM frames WHERE device_id = '{device}'", r => r.GetInt64(0)))[0];

    /// <summary>Stops and deletes the private server however the test ends.</summary>
    private sealed class PrivatePostgresLifetime : IAsyncDisposable
    {
        public PrivatePostgres Server { get; } = new();

        public async ValueTask DisposeAsync() => await Server.DisposeAsync();
    }
}
