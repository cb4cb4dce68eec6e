using YoloFleet.Cloud.Mqtt;
using YoloFleet.Cloud.Net;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// A burst of 10,000 QoS 1 messages published while the subscriber is offline (its persistent session queues them)
/// must arrive whole. Both brokers drop queued messages at their default limits (1000); YoloFleet's configurations
/// (deploy/mosquitto/mosquitto.conf and <see cref="EmbeddedBroker"/>) lift that.
/// </summary>
public sealed class BrokerBurstTests
{
    private const int Burst = 10_000;

    [Fact]
    public async Task Embedded_broker_delivers_a_10000_message_burst_whole()
    {
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(port, maxPendingMessagesPerClient: 250_000);
        var received = await BurstThroughOfflineSessionAsync("127.0.0.1", port);
        Assert.Equal(Burst, received);
        Assert.Equal(0, broker.DroppedMessages);
    }

    [Fact]
    public async Task Embedded_broker_with_the_MQTTnet_default_queue_limit_drops_and_counts_it()
    {
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(port, maxPendingMessagesPerClient: 1000);
        var received = await BurstThroughOfflineSessionAsync("127.0.0.1", port, expectWhole: false);
        Assert.True(received < Burst, $"expected drops at the default limit, got all {received}");
        Assert.Equal(Burst - received, broker.DroppedMessages);
    }

    [Fact]
    public async Task Mosquitto_delivers_a_10000_message_burst_whole()
    {
        await TestServices.RequireMosquittoAsync();
        var (host, port) = TestServices.Mosquitto;
        Assert.Equal(Burst, await BurstThroughOfflineSessionAsync(host, port));
    }

    private static async Task<int> BurstThroughOfflineSessionAsync(string host, int port, bool expectWhole = true)
    {
        var topic = "yolofleet-test/burst/" + Guid.NewGuid().ToString("N");
        var subscriberId = "burst-sub-" + Guid.NewGuid().ToString("N")[..8];
        await using (var subscriber = new MqttTestClient(host, port, subscriberId))
        {
            await subscriber.ConnectAsync(persistentSession: true);
            await subscriber.SubscribeAsync(topic);
            await subscriber.DisconnectAsync();
        }

        await using (var publisher = new MqttTestClient(host, port))
        {
            await publisher.ConnectAsync();
            await publisher.PublishBurstAsync(topic, Burst, inFlight: 100);
        }

        await using var resumed = new MqttTestClient(host, port, subscriberId);
        await resumed.ConnectAsync(persistentSession: true);
        var distinct = new HashSet<int>();
        await resumed.WaitForAsync(q => q.Count >= Burst, expectWhole ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(5));
        foreach (var (_, payload) in resumed.Received)
        {
            distinct.Add(BitConverter.ToInt32(payload));
        }

        return distinct.Count;
    }
}
