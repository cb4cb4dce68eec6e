using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Mqtt;

/// <summary>
/// An MQTTnet broker for single-machine use (the demo, tests, a small site), bound to loopback unless told otherwise.
/// Configured so that a QoS 1 burst is delivered whole: MQTTnet drops the oldest queued message past
/// MaxPendingMessagesPerClient (default 1000), so the limit is raised and every drop is counted.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly ILogger _logger;

    // MQTTnet 5.2 raises the overwrite event more than once for one dropped packet; count each packet once.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<MQTTnet.Packets.MqttPacket, object> _dropped = [];
    private long _droppedMessages;
    private long _rejectedPublishes;

    private EmbeddedBroker(MqttServer server, int port, ILogger logger)
    {
        _server = server;
        Port = port;
        _logger = logger;
    }

    public int Port { get; }

    /// <summary>Queued messages the broker discarded because a client's queue was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    /// <summary>Publishes refused at the broker (oversized).</summary>
    public long RejectedPublishes => Interlocked.Read(ref _rejectedPublishes);

    public static async Task<EmbeddedBroker> StartAsync(
        int port, int maxPendingMessagesPerClient, IPAddress? bindAddress = null, ILogger? logger = null)
    {
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(bindAddress ?? IPAddress.Loopback)
            .WithDefaultEndpointPort(port)
            .WithMaxPendingMessagesPerClient(maxPendingMessagesPerClient)
            .WithPendingMessagesOverflowStrategy(MqttPendingMessagesOverflowStrategy.DropOldestQueuedMessage)
            .WithPersistentSessions(true)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        var broker = new EmbeddedBroker(server, port, logger ?? NullLogger.Instance);
        server.QueuedApplicationMessageOverwrittenAsync += broker.OnMessageDroppedAsync;
        server.InterceptingPublishAsync += broker.OnInterceptingPublishAsync;
        await server.StartAsync();
        broker._logger.LogInformation("Embedded MQTT broker listening on {Address}:{Port}", bindAddress ?? IPAddress.Loopback, port);
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync(new MqttServerStopOptions());
        _server.Dispose();
    }

    private Task OnMessageDroppedAsync(QueueMessageOverwrittenEventArgs args)
    {
        if (!_dropped.TryAdd(args.Packet, args))
        {
            return Task.CompletedTask;
        }

        Interlocked.Increment(ref _droppedMessages);
        _logger.LogWarning("Broker queue full for client {ClientId}: dropped its oldest queued message", args.ReceiverClientId);
        return Task.CompletedTask;
    }

    private Task OnInterceptingPublishAsync(InterceptingPublishEventArgs args)
    {
        if (args.ApplicationMessage.Payload.Length > ProtocolLimits.MaxPacketBytes)
        {
            args.ProcessPublish = false;
            Interlocked.Increment(ref _rejectedPublishes);
            _logger.LogWarning(
                "Refused a {Bytes}-byte publish from {ClientId} on {Topic}: the limit is {Limit}",
                args.ApplicationMessage.Payload.Length, args.ClientId, args.ApplicationMessage.Topic, ProtocolLimits.MaxPacketBytes);
        }

        return Task.CompletedTask;
    }
}
