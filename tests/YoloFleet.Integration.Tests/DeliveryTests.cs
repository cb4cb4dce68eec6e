using System.Globalization;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Mqtt;
using YoloFleet.Cloud.Net;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// End-to-end delivery (docs/protocol.md): a device keeps every message until the cloud confirms it, so no broker
/// failure loses data, and every drop is reported. Real agents, silos, mosquitto and PostgreSQL, each test with a broker
/// of its own. Every test ends with the accounting: each sequence number a device used is in PostgreSQL exactly once,
/// or inside a drop the device reported and the cloud stored.
/// </summary>
[Trait("Category", "Delivery")]
public sealed partial class DeliveryTests : IClassFixture<PostgresDatabase>
{
    private static readonly TimeSpan AgentRun = TimeSpan.FromMinutes(4);
    private readonly PostgresDatabase _database;

    public DeliveryTests(PostgresDatabase database) => _database = database;

    /// <summary>
    /// The measured fault (issue 20): silos SIGKILLed while devices publish, so the broker queues for their persistent
    /// sessions in memory; then the broker (persistence off) is restarted or SIGKILLed before any silo is back, which
    /// loses that queue. The devices still hold those messages and send them again.
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [Trait("Category", "Faults")]
    public async Task Silos_killed_and_the_broker_lost_before_they_return_lose_nothing(int silos, bool killBroker)
    {
        var redis = await TestServices.RequireRedisAsync();
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var run = Guid.NewGuid().ToString("N")[..6];
        string[] devices = [$"dlv-{run}-0", $"dlv-{run}-1"];
        await RegisterAsync(devices);
        var cluster = "dlv-" + run;
        var cloud = new List<SiloProcess>();
        var agents = new List<AgentProcess>();
        var states = devices.Select(StateDirectory).ToArray();
        try
        {
            for (var i = 0; i < silos; i++)
            {
                cloud.Add(new SiloProcess(_database.ConnectionString, broker.Endpoint, redis, cluster, $"dlv-silo-{run}-{i}", SiloSettings()));
                await cloud[^1].StartAsync();
            }

            agents.AddRange(devices.Select((d, i) => new AgentProcess(AgentSettings(d, states[i], broker.Endpoint.Port, frames: 150, fps: 10))));
            var before = await Poll.UntilAsync(() => CommittedAsync(cloud), n => n >= 20, TimeSpan.FromSeconds(120));
            Assert.True(before >= 20, "the silos never committed a frame: " + agents[0].Tail());

            foreach (var silo in cloud)
            {
                silo.Kill();
            }

            // The devices keep publishing; the broker takes their messages for the dead silos' sessions, in memory only.
            await Task.Delay(TimeSpan.FromSeconds(3));
            if (killBroker)
            {
                await broker.KillAsync();
                await Task.Delay(TimeSpan.FromSeconds(1));
                await broker.StartAsync();
            }
            else
            {
                await broker.RestartAsync();
            }

            // Back together, as systemd restarts them: a silo that rejoins alone waits for the other's stale membership entry.
            await Task.Delay(TimeSpan.FromSeconds(2));
            await Task.WhenAll(cloud.Select(silo => silo.StartAsync()));

            foreach (var agent in agents)
            {
                await agent.WaitForExitAsync(AgentRun);
                Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");
            }

            for (var i = 0; i < devices.Length; i++)
            {
                var account = await AccountAsync(devices[i], LastSequence(states[i]));
                Assert.Empty(account.Drops);
                Assert.True(account.Frames >= 150, $"{account.Frames} frames stored");
            }
        }
        finally
        {
            await DisposeAllAsync(agents, cloud, broker, states);
        }
    }

    /// <summary>
    /// The cloud commits but its confirmations never arrive (a silo with them switched off): the device sends its
    /// messages again and again with back-off, the cloud stores each once, and a silo that confirms ends it.
    /// </summary>
    [Fact]
    public async Task A_resend_after_lost_confirmations_creates_no_duplicate()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var device = "lost-" + Guid.NewGuid().ToString("N")[..6];
        await RegisterAsync([device]);
        var state = StateDirectory(device);
        var cluster = "lost-" + device;
        AgentProcess? agent = null;
        try
        {
            const int Frames = 30;
            await using (var deaf = await LocalFleet.StartCloudAsync(
                _database.ConnectionString,
                CancellationToken.None,
                broker.Endpoint,
                clusterId: cluster,
                extraSettings: new Dictionary<string, string?> { ["Cloud:Delivery:ConfirmIntervalMs"] = "0" }))
            {
                agent = new AgentProcess(AgentSettings(device, state, broker.Endpoint.Port, frames: Frames, fps: 10, ("Agent:HardFrames:Enabled", "false")));

                // Every frame committed once, then received again at least once more and refused by the database as stored.
                var stats = await Poll.UntilAsync(
                    () => Task.FromResult(deaf.Counters.Snapshot()), s => s.FramesCommitted >= Frames && s.Duplicates >= Frames, TimeSpan.FromMinutes(2));
                Assert.True(stats.Duplicates >= Frames, $"{stats.FramesCommitted} committed, {stats.Duplicates} re-sent duplicates:{Environment.NewLine}{agent.Tail()}");
                Assert.Equal(Frames, stats.FramesCommitted);
                Assert.False(agent.HasExited, "the agent must not finish while nothing was confirmed");
            }

            await using (var confirming = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, broker.Endpoint, clusterId: cluster))
            {
                await agent.WaitForExitAsync(AgentRun);
                Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");
                Assert.Equal(0, confirming.Counters.Snapshot().FramesCommitted);
            }

            var account = await AccountAsync(device, LastSequence(state));
            Assert.Empty(account.Drops);
            Assert.Equal(Frames, account.Frames);
        }
        finally
        {
            await DisposeAllAsync(agent is null ? [] : [agent], [], broker, [state]);
        }
    }

    /// <summary>
    /// No cloud subscribes yet, so the device's outbox fills past its disk budget and evicts: the drop is counted (its
    /// telemetry), reported as DeliveryReported once a silo is there, stored, and shown by the API.
    /// </summary>
    [Fact]
    [Trait("Category", "Faults")]
    public async Task A_budget_drop_is_counted_reported_stored_and_visible_through_the_api()
    {
        var redis = await TestServices.RequireRedisAsync();
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var device = "budget-" + Guid.NewGuid().ToString("N")[..6];
        await RegisterAsync([device]);
        var state = StateDirectory(device);
        AgentProcess? agent = null;
        await using var silo = new SiloProcess(_database.ConnectionString, broker.Endpoint, redis, "budget-" + device, "budget-silo-" + device, SiloSettings());
        try
        {
            // Every frame is a hard frame (tens of kB): 60 of them cannot fit in 1 MiB.
            agent = new AgentProcess(AgentSettings(
                device,
                state,
                broker.Endpoint.Port,
                frames: 60,
                fps: 0,
                ("Agent:Outbox:MaxBytes", "1048576"),
                ("Agent:Outbox:SegmentBytes", "65536"),
                ("Agent:HardFrames:SampleRate", "1.0"),
                ("Agent:HardFrames:BudgetPerHour", "100000")));
            var acked = Path.Combine(state, "outbox", "acked");
            Assert.True(await Poll.UntilAsync(() => Task.FromResult(File.Exists(acked)), e => e, TimeSpan.FromSeconds(120)), "the outbox never evicted:" + Environment.NewLine + agent.Tail());
            await Task.Delay(TimeSpan.FromSeconds(5));

            await silo.StartAsync();
            await agent.WaitForExitAsync(AgentRun);
            Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");

            var account = await AccountAsync(device, LastSequence(state), () => agent.Tail() + Environment.NewLine + silo.Tail());
            var budget = account.Drops.Where(d => d.Reason == DeliveryDropReasons.Budget).ToList();
            Assert.NotEmpty(budget);
            Assert.All(account.Drops, d => Assert.Equal(DeliveryDropReasons.Budget, d.Reason));
            var dropped = budget.Sum(d => d.Messages);
            Assert.True(dropped > 0);

            // Counted on the device: its telemetry reports the evictions.
            var evicted = await _database.QueryAsync($"SELECT coalesce(max(outbox_evicted), 0) FROM telemetry WHERE device_id = '{device}'", r => r.GetInt64(0));
            Assert.Equal(dropped, evicted[0]);

            // Visible to an operator: the device's delivery, and the silo's totals.
            var report = await Poll.UntilAsync(
                () => silo.GetAsync<DeviceDeliveryReport>($"/api/devices/{device}/delivery"), r => r is { MissingSequences: 0 }, TimeSpan.FromSeconds(30));
            Assert.NotNull(report);
            var byReason = Assert.Single(report.DropsByReason);
            Assert.Equal((DeliveryDropReasons.Budget, dropped, (long)budget.Count), (byReason.Reason, byReason.Messages, byReason.Ranges));
            Assert.Equal(dropped, report.DroppedMessages);
            Assert.Equal(0, report.MissingSequences);
            Assert.True(report.AccountedByReports >= dropped, $"the grain accounted for {report.AccountedByReports} of {dropped}");
            var stats = await silo.StatsAsync();
            Assert.NotNull(stats?.Delivery);
            Assert.Equal(dropped, stats.Delivery.DropsByReason[DeliveryDropReasons.Budget].Messages);
            Assert.True(stats.Delivery.ConfirmationsPublished > 0);
        }
        finally
        {
            await DisposeAllAsync(agent is null ? [] : [agent], [], broker, [state]);
        }
    }

    /// <summary>
    /// A crash skips sequence numbers (the counter reserves blocks): the cloud sees a gap that never fills, asks the
    /// device for it, hears "not-held", stores that, and stops asking.
    /// </summary>
    [Fact]
    [Trait("Category", "Faults")]
    public async Task Numbers_a_crash_skipped_are_asked_for_reported_not_held_and_closed()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        var device = "skip-" + Guid.NewGuid().ToString("N")[..6];
        await RegisterAsync([device]);
        var state = StateDirectory(device);
        try
        {
            await using var fleet = await LocalFleet.StartCloudAsync(
                _database.ConnectionString,
                CancellationToken.None,
                broker.Endpoint,
                extraSettings: new Dictionary<string, string?> { ["Cloud:Delivery:GapRequestAfterSeconds"] = "2" });
            var settings = AgentSettings(device, state, broker.Endpoint.Port, frames: 0, fps: 5, ("Agent:HardFrames:Enabled", "false"));
            using (var first = new AgentProcess(settings))
            {
                await Poll.UntilAsync(() => fleet.GetDeviceAsync(device), s => s.Frames >= 5, TimeSpan.FromSeconds(120));
                first.Kill();
            }

            // The restarted agent starts above the block the killed one had reserved; it runs long enough to be asked.
            settings["Agent:Source:MaxFrames"] = "60";
            var grain = fleet.CloudServices.GetRequiredService<IGrainFactory>().GetGrain<IDeviceGrain>(device);
            using (var second = new AgentProcess(settings))
            {
                var delivery = await Poll.UntilAsync(
                    grain.GetDeliveryAsync, d => d.HighestSequence > 100 && d.MissingSequences == 0 && d.GapRequests >= 1, TimeSpan.FromSeconds(90));
                Assert.True(delivery.HighestSequence > 100, "the restarted agent was not heard:" + Environment.NewLine + second.Tail());
                Assert.True(delivery.GapRequests >= 1, "the grain never asked for the gap");
                Assert.True(delivery.MissingSequences == 0, $"{delivery.MissingSequences} still missing after {delivery.GapRequests} request(s):{Environment.NewLine}{second.Tail()}");
                Assert.True(delivery.AccountedByReports >= 50);
                await second.WaitForExitAsync(AgentRun);
                Assert.True(second.ExitCode == 0, $"agent exit code {second.ExitCode}:{Environment.NewLine}{second.Tail()}");
            }

            // One skipped block (reported once, or again if a second request crossed the first report).
            var account = await AccountAsync(device, LastSequence(state));
            Assert.NotEmpty(account.Drops);
            Assert.All(account.Drops, d => Assert.Equal((DeliveryDropReasons.NotHeld, 0L), (d.Reason, d.Messages)));
            var (from, to) = Assert.Single(account.Drops.Select(d => (d.First, d.Last)).Distinct());
            Assert.True(to - from + 1 >= 50, $"the skipped block {from}-{to} should be most of the 100 numbers reserved");
            Assert.Equal(100, to);
        }
        finally
        {
            await DisposeAllAsync([], [], broker, [state]);
        }
    }

    /// <summary>
    /// With nobody confirming, the agent stops at Agent:Delivery:MaxUnconfirmed published messages and keeps the rest on
    /// disk; each confirmation lets as many more go.
    /// </summary>
    [Fact]
    public async Task Past_max_unconfirmed_the_agent_stops_sending_and_keeps_the_backlog_on_disk()
    {
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(port, maxPendingMessagesPerClient: 10_000);
        var device = "window-" + Guid.NewGuid().ToString("N")[..6];
        var state = StateDirectory(device);
        await using var cloud = new MqttTestClient("127.0.0.1", port);
        await cloud.ConnectAsync();
        await cloud.SubscribeAsync(Topics.Detections(device));
        using var agent = EdgeAgentHost.Build([], new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = device,
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:MaxFrames"] = "20",
            ["Agent:HardFrames:Enabled"] = "false",
            ["Agent:Telemetry:IntervalSeconds"] = "3600",
            ["Agent:Delivery:MaxUnconfirmed"] = "5",
            ["Agent:Delivery:ConfirmTimeout"] = "00:10:00",
            ["Agent:Delivery:MaxResendInterval"] = "00:10:00",
        });
        try
        {
            await agent.StartAsync();
            var outbox = agent.Services.GetRequiredService<OutboxStore>();
            await Poll.UntilAsync(() => Task.FromResult(outbox.Depth), d => d >= 20, TimeSpan.FromSeconds(60));
            await Task.Delay(TimeSpan.FromSeconds(2));

            Assert.Equal(20, outbox.Depth);
            Assert.Equal(5, outbox.Unconfirmed);
            Assert.Equal([1UL, 2, 3, 4, 5], Sequences(cloud));

            // The cloud confirms three (out of order, as two silos might): three more go.
            await cloud.PublishAsync(Topics.Commits(device), Confirmation((4, 5), (1, 1)));
            Assert.True(await cloud.WaitForAsync(q => q.Count >= 8, TimeSpan.FromSeconds(10)));
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.Equal([1UL, 2, 3, 4, 5, 6, 7, 8], Sequences(cloud));
            Assert.Equal(17, outbox.Depth);
            Assert.Equal(1UL, outbox.Acknowledged);
        }
        finally
        {
            await agent.StopAsync();
            await ((IAsyncDisposable)agent).DisposeAsync();
            Directory.Delete(state, recursive: true);
        }
    }

    private static List<ulong> Sequences(MqttTestClient client) =>
        [.. client.Received.Select(m => DetectionsPublished.Parser.ParseFrom(m.Payload).Envelope.Sequence).Order()];

    private static byte[] Confirmation(params (ulong First, ulong Last)[] committed)
    {
        var message = new CommitsConfirmed { SchemaVersion = SchemaVersions.Current };
        message.Committed.AddRange(committed.Select(c => new SequenceRange { First = c.First, Last = c.Last }));
        return message.ToByteArray();
    }

    private static Dictionary<string, string> SiloSettings() => new()
    {
        ["Cloud:Delivery:GapRequestAfterSeconds"] = "10",
        ["Cloud:Delivery:GapRequestMaxIntervalSeconds"] = "30",
    };

    private static Dictionary<string, string> AgentSettings(string device, string state, int brokerPort, int frames, double fps, params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string>
        {
            ["Agent:DeviceId"] = device,
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:Loop"] = "true",
            ["Agent:Source:MaxFrames"] = frames.ToString(CultureInfo.InvariantCulture),
            ["Agent:Source:MaxFps"] = fps.ToString(CultureInfo.InvariantCulture),
            ["Agent:Telemetry:IntervalSeconds"] = "3",
            ["Agent:Delivery:ConfirmTimeout"] = "00:00:04",
            ["Agent:Delivery:MaxResendInterval"] = "00:00:15",
            ["Agent:DrainTimeout"] = "00:03:00",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static string StateDirectory(string device) => Path.Combine(Path.GetTempPath(), "yf-delivery-" + device);

    /// <summary>The last sequence number the agent used: a clean exit records it exactly.</summary>
    private static long LastSequence(string state) =>
        long.Parse(File.ReadAllText(Path.Combine(state, "sequence")).Trim(), CultureInfo.InvariantCulture);

    private async Task RegisterAsync(IEnumerable<string> devices, string? database = null)
    {
        await using var dataSource = NpgsqlDataSource.Create(database ?? _database.ConnectionString);
        var directory = new DeviceDirectory(dataSource);
        foreach (var device in devices)
        {
            await directory.RegisterAsync(device, "delivery test");
        }
    }

    private static async Task<long> CommittedAsync(IEnumerable<SiloProcess> silos)
    {
        long total = 0;
        foreach (var silo in silos)
        {
            total += (await silo.StatsAsync())?.FramesCommitted ?? 0;
        }

        return total;
    }

    /// <summary>
    /// Every number from 1 to <paramref name="last"/> is stored exactly once (a frame, hard frame, telemetry report,
    /// delivery report or object event) or lies in a stored drop, and nothing else is stored. In the class's database,
    /// or in <paramref name="database"/> (a private server).
    /// </summary>
    private async Task<Account> AccountAsync(string device, long last, Func<string>? context = null, string? database = null)
    {
        database ??= _database.ConnectionString;
        var stored = await PostgresDatabase.QueryAsync(
            database,
            $"""
             SELECT sequence, 'frame' FROM frames WHERE device_id = '{device}'
             UNION ALL SELECT sequence, 'hard frame' FROM hard_frames WHERE device_id = '{device}'
             UNION ALL SELECT sequence, 'telemetry' FROM telemetry WHERE device_id = '{device}'
             UNION ALL SELECT DISTINCT report_sequence, 'delivery' FROM delivery_drops WHERE device_id = '{device}'
             UNION ALL SELECT sequence, 'object event' FROM object_events WHERE device_id = '{device}'
             """,
            r => (Sequence: r.GetInt64(0), Kind: r.GetString(1)));
        var drops = await PostgresDatabase.QueryAsync(
            database,
            $"SELECT first, last, reason, messages FROM delivery_drops WHERE device_id = '{device}' ORDER BY first",
            r => new Drop(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3)));

        var duplicates = stored.GroupBy(s => s.Sequence).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"{device}: stored more than once: {string.Join(", ", duplicates.Take(20))}");
        var held = stored.Select(s => s.Sequence).ToHashSet();
        var beyond = held.Where(s => s < 1 || s > last).ToList();
        Assert.True(beyond.Count == 0, $"{device}: stored numbers the device never used (last {last}): {string.Join(", ", beyond.Take(20))}");
        var missing = new List<long>();
        for (var s = 1L; s <= last; s++)
        {
            if (!held.Contains(s) && !drops.Any(d => d.First <= s && s <= d.Last))
            {
                missing.Add(s);
            }
        }

        Assert.True(
            missing.Count == 0,
            $"{device}: {missing.Count} of {last} numbers neither stored nor reported dropped: {string.Join(", ", missing.Take(40))}{Environment.NewLine}{context?.Invoke()}");
        return new Account(stored.Count(s => s.Kind == "frame"), drops);
    }

    private static async Task DisposeAllAsync(IEnumerable<AgentProcess> agents, IEnumerable<SiloProcess> silos, PrivateMosquitto broker, IEnumerable<string> states)
    {
        foreach (var agent in agents)
        {
            agent.Dispose();
        }

        foreach (var silo in silos)
        {
            await silo.DisposeAsync();
        }

        await broker.DisposeAsync();
        foreach (var state in states.Where(Directory.Exists))
        {
            Directory.Delete(state, recursive: true);
        }
    }

    private sealed record Drop(long First, long Last, string Reason, long Messages);

    private sealed record Account(int Frames, List<Drop> Drops);
}
