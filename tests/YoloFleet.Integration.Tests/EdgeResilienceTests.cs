using System.Buffers;
using YoloFleet.Cli;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
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

    [Fact]
    public async Task An_outage_mid_stream_loses_nothing_and_the_cloud_stores_every_sequence_once()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        await using var outage = new TcpOutageProxy(fleet.BrokerPort);
        const string device = "outage-01";

        // An independent observer on the broker itself, unaffected by the device's outage.
        await using var observer = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await observer.ConnectAsync();
        await observer.SubscribeAsync(Topics.Detections(device));

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
            brokerPort: outage.Port);
        Assert.True(await observer.WaitForAsync(q => q.Count >= 10, TimeSpan.FromSeconds(60)), "the agent never started publishing");
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
        Assert.True(arrivals.Count - distinct.Count <= 32, $"{arrivals.Count - distinct.Count} duplicates");

        Assert.Equal(Frames, await fleet.WaitForCommittedAsync(Frames, TimeSpan.FromSeconds(30), CancellationToken.None));
        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' ORDER BY sequence", r => r.GetInt64(0));
        Assert.Equal(published.Select(s => (long)s), stored);
        var snapshot = await fleet.GetDeviceAsync(device);
        for (var i = 0; i < 100 && snapshot.MissingSequences > 0; i++)
        {
            await Task.Delay(50);
            snapshot = await fleet.GetDeviceAsync(device);
        }

        Assert.Equal(0, snapshot.MissingSequences);
    }

    private static List<ulong> Sequences(IEnumerable<(string Topic, byte[] Payload)> received) =>
        [.. received.Select(m => DetectionsPublished.Parser.ParseFrom(new ReadOnlySequence<byte>(m.Payload)).Envelope.Sequence)];
}
