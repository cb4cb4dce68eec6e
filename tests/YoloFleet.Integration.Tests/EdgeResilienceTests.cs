using System.Buffers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using YoloFleet.Cli;
using YoloFleet.Cloud.Mqtt;
using YoloFleet.Cloud.Net;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>The agent streams through a network outage: its outbox holds the frames and drains after reconnecting.</summary>
[Trait("Category", "EdgeResilience")]
public sealed class EdgeResilienceTests : IClassFixture<PostgresDatabase>
{
    private const int Frames = 60;
    private readonly PostgresDatabase _database;

    public EdgeResilienceTests(PostgresDatabase database) => _database = database;

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task An_outage_mid_stream_loses_nothing_and_the_cloud_stores_every_sequence_once(int batchFrames)
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        await using var outage = new TcpOutageProxy(fleet.BrokerPort);
        var device = "outage-" + batchFrames;

        // An independent observer on the broker itself, unaffected by the device's outage.
        await using var observer = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await observer.ConnectAsync();
        await observer.SubscribeAsync(Topics.Detections(device));
        await observer.SubscribeAsync(Topics.DetectionsBatch(device));

        var published = new List<ulong>();
        var agent = fleet.RunAgentAsync(
            device,
            SharedData.YoloxNano416,
            SharedData.Coco128Images,
            Frames,
            m =>
            {
                published.Add(m.Envelope.Sequence);
                return Task.CompletedTask;
            },
            CancellationToken.None,
            brokerPort: outage.Port,
            settings: new Dictionary<string, string?> { ["Agent:Batching:MaxFrames"] = batchFrames.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Assert.True(await observer.WaitForAsync(q => Sequences(q).Count >= 10, TimeSpan.FromSeconds(60)), "the agent never started publishing");
        outage.Cut();
        var seenAtCut = observer.Received.Count;
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.InRange(observer.Received.Count, seenAtCut, seenAtCut + 32);
        outage.Restore();
        await agent.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(await observer.WaitForAsync(q => Sequences(q).Distinct().Count() >= Frames, TimeSpan.FromSeconds(30)));
        var arrivals = Sequences(observer.Received);
        var distinct = arrivals.Distinct().ToList();
        Assert.Equal(Frames, published.Count);
        Assert.Equal(published, distinct.Order());

        // First arrivals are in order; a repeat can only be a message whose PUBACK the outage swallowed.
        Assert.Equal(distinct.Order(), distinct);
        Assert.True(arrivals.Count - distinct.Count <= 32 * batchFrames, $"{arrivals.Count - distinct.Count} duplicates");

        // Batching on: the backlog went out in batches; off: one message per frame.
        var batches = observer.Received.Where(m => m.Topic == Topics.DetectionsBatch(device)).ToList();
        if (batchFrames > 1)
        {
            Assert.Contains(batches, m => DetectionsBatch.Parser.ParseFrom(m.Payload).Frames.Count == batchFrames);
        }
        else
        {
            Assert.Empty(batches);
        }

        Assert.Equal(Frames, await fleet.WaitForCommittedAsync(Frames, TimeSpan.FromSeconds(30), CancellationToken.None));
        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' ORDER BY sequence", r => r.GetInt64(0));
        Assert.Equal(published.Select(s => (long)s), stored);
        var snapshot = await Poll.UntilAsync(() => fleet.GetDeviceAsync(device), s => s.Frames == Frames && s.MissingSequences == 0, TimeSpan.FromSeconds(10));

        Assert.Equal(0, snapshot.MissingSequences);
    }

    [Fact]
    public async Task A_killed_agent_keeps_its_outbox_and_delivers_it_after_restart()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        await using var outage = new TcpOutageProxy(fleet.BrokerPort);
        var device = "sigkill-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        var state = Path.Combine(Path.GetTempPath(), "yf-agent-" + device);
        await using var observer = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await observer.ConnectAsync();
        await observer.SubscribeAsync(Topics.Detections(device));

        var settings = new Dictionary<string, string>
        {
            ["Agent:DeviceId"] = device,
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Port"] = outage.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:Loop"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
        };

        // Stream, lose the link so frames pile up in the outbox, then SIGKILL the agent.
        using (var first = new AgentProcess(settings))
        {
            Assert.True(await observer.WaitForAsync(q => q.Count >= 5, TimeSpan.FromSeconds(90)), "the agent never published");
            outage.Cut();
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.False(first.HasExited);
            first.Kill();
        }

        // What the killed agent had produced: delivered already, or still in its outbox on disk.
        var produced = Sequences(observer.Received).ToHashSet();
        var waiting = new List<ulong>();
        using (var outbox = new OutboxStore(Path.Combine(state, "outbox"), new OutboxOptions(), TimeProvider.System))
        {
            Assert.True(outbox.Depth > 0, "nothing was waiting in the outbox at the kill");
            while (outbox.TryReadNext() is { } message)
            {
                if (message.Kind == Topics.DetectionsKind)
                {
                    waiting.Add(DetectionsPublished.Parser.ParseFrom(message.Payload).Envelope.Sequence);
                }
            }
        }

        produced.UnionWith(waiting);
        Assert.NotEmpty(waiting);

        // Restart on the same state: it sends the backlog first, then a few new frames, drains and exits.
        outage.Restore();
        settings["Agent:Source:MaxFrames"] = "3";
        using (var second = new AgentProcess(settings))
        {
            await second.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(0, second.ExitCode);
        }

        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}'", r => (ulong)r.GetInt64(0));
        Assert.Superset(produced, stored.ToHashSet());
        Assert.Equal(stored.Count, stored.Distinct().Count());
        Assert.Equal(produced.Count + 3, stored.Count);

        // Numbers after the restart are above everything before it: nothing is reused.
        Assert.True(stored.Except(produced).All(s => s > produced.Max()));
        Directory.Delete(state, recursive: true);
    }

    [Fact]
    public async Task A_message_of_a_kind_the_agent_cannot_send_is_dropped_and_reported_without_blocking_the_queue()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var device = "kind-" + Guid.NewGuid().ToString("N")[..6];
        var state = Path.Combine(Path.GetTempPath(), "yf-kind-" + Guid.NewGuid().ToString("N")[..8]);

        // What a newer agent could leave behind before a downgrade: a message under a kind this agent has no topic for.
        using (var outbox = new OutboxStore(Path.Combine(state, "outbox"), new OutboxOptions(), TimeProvider.System))
        {
            outbox.Append(1, "from-the-future", [1, 2, 3]);
        }

        const int Frames = 3;
        var run = await fleet.RunAgentAsync(
            device, SharedData.YoloxNano416, SharedData.Coco128Images, Frames, null, CancellationToken.None, stateDirectory: state)
            .WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(Frames, run.Frames);
        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' ORDER BY sequence", r => r.GetInt64(0));
        Assert.Equal(Frames, stored.Count);
        Assert.True(stored[0] > 1, "the frames reused the stranded message's number");
        var drops = await Poll.UntilAsync(
            () => _database.QueryAsync($"SELECT first, last, reason FROM delivery_drops WHERE device_id = '{device}'", r => (r.GetInt64(0), r.GetInt64(1), r.GetString(2))),
            d => d.Count > 0,
            TimeSpan.FromSeconds(60));
        Assert.Equal([(1L, 1L, DeliveryDropReasons.UnknownKind)], drops);
        Directory.Delete(state, recursive: true);
    }

    [Fact]
    public async Task A_lost_source_is_reported_retried_and_recovered()
    {
        // A folder of its own (copies made at run time, outside the repository) that the test can take away.
        var folder = Path.Combine(Path.GetTempPath(), "yf-source-" + Guid.NewGuid().ToString("N")[..8]);
        var away = folder + ".away";
        Directory.CreateDirectory(folder);
        foreach (var image in Directory.GetFiles(SharedData.Coco128Images).Order(StringComparer.Ordinal).Take(3))
        {
            File.Copy(image, Path.Combine(folder, Path.GetFileName(image)));
        }

        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var device = "source-" + Guid.NewGuid().ToString("N")[..6];
        const int Frames = 20;
        Task? restore = null;
        var published = 0;
        var run = await fleet.RunAgentAsync(device, SharedData.YoloxNano416, folder, Frames, _ =>
        {
            if (++published == 5)
            {
                // The camera goes away for 2.5 s, then comes back.
                Directory.Move(folder, away);
                restore = Task.Delay(TimeSpan.FromSeconds(2.5)).ContinueWith(_ => Directory.Move(away, folder), TaskScheduler.Default);
            }

            return Task.CompletedTask;
        }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.NotNull(restore);
        await restore;
        Assert.True(run.SourceFailures >= 1, "the lost source was not reported");
        Assert.Equal(Frames, run.Frames);
        Assert.Equal(Frames, await fleet.WaitForCommittedAsync(Frames, TimeSpan.FromSeconds(30), CancellationToken.None));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task Messages_nobody_subscribes_to_yet_wait_in_the_outbox_until_someone_does()
    {
        // A broker with no cloud session: it would acknowledge and discard. The agent keeps the messages instead.
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(port, maxPendingMessagesPerClient: 10_000);
        var device = "early-" + Guid.NewGuid().ToString("N")[..6];
        var state = Path.Combine(Path.GetTempPath(), "yf-agent-" + device);
        using var agent = EdgeAgentHost.Build([], new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = device,
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:MaxFrames"] = "5",
            ["Agent:HardFrames:Enabled"] = "false",
            ["Agent:DrainTimeout"] = "00:01:30",

            // No cloud here to confirm anything: the broker's PUBACK settles a message, as before confirmations.
            ["Agent:Delivery:Confirmation"] = "Broker",
        });
        var run = agent.RunAsync();
        var outbox = agent.Services.GetRequiredService<OutboxStore>();
        await Poll.UntilAsync(() => Task.FromResult(outbox.Depth), depth => depth >= 5, TimeSpan.FromSeconds(5));

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(5, outbox.Depth);

        await using var cloud = new MqttTestClient("127.0.0.1", port);
        await cloud.ConnectAsync();
        await cloud.SubscribeAsync(Topics.AllDevices(Topics.DetectionsKind));
        await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(await cloud.WaitForAsync(q => q.Count >= 5, TimeSpan.FromSeconds(10)));
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, Sequences(cloud.Received).Distinct().Order());
        Directory.Delete(state, recursive: true);
    }

    /// <summary>The frames' sequences in arrival order, unpacking batches.</summary>
    private static List<ulong> Sequences(IEnumerable<(string Topic, byte[] Payload)> received) =>
        [.. received.SelectMany(m => m.Topic.EndsWith("/" + Topics.DetectionsBatchKind, StringComparison.Ordinal)
            ? DetectionsBatch.Parser.ParseFrom(m.Payload).Frames.Select(f => f.Envelope.Sequence)
            : [DetectionsPublished.Parser.ParseFrom(new ReadOnlySequence<byte>(m.Payload)).Envelope.Sequence])];
}
