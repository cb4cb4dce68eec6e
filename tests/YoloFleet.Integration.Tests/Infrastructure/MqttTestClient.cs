using System.Buffers;
using System.Collections.Concurrent;
using MQTTnet;
using MQTTnet.Protocol;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>A plain MQTT 5 client for tests: publish raw payloads, record what arrives.</summary>
public sealed class MqttTestClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly string _host;
    private readonly int _port;
    private readonly string _clientId;

    public MqttTestClient(string host, int port, string? clientId = null)
    {
        _host = host;
        _port = port;
        _clientId = clientId ?? "test-" + Guid.NewGuid().ToString("N")[..10];
        _client.ApplicationMessageReceivedAsync += e =>
        {
            Received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
    }

    public ConcurrentQueue<(string Topic, byte[] Payload)> Received { get; } = new();

    public async Task ConnectAsync(bool persistentSession = false)
    {
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(_host, _port)
            .WithClientId(_clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(!persistentSession)
            .WithSessionExpiryInterval(persistentSession ? 600u : 0u)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build();
        await _client.ConnectAsync(options);
    }

    public async Task SubscribeAsync(string filter) =>
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public Task DisconnectAsync() => _client.DisconnectAsync();

    public async Task<MqttClientPublishResult> PublishAsync(string topic, byte[] payload) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    /// <summary>Publishes a retained QoS 1 message (an empty payload clears the topic's retained message).</summary>
    public async Task<MqttClientPublishResult> PublishRetainedAsync(string topic, byte[] payload) =>
        await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithRetainFlag(true)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    /// <summary>Publishes <paramref name="count"/> QoS 1 messages with up to <paramref name="inFlight"/> awaiting PUBACK.</summary>
    public async Task PublishBurstAsync(string topic, int count, int inFlight)
    {
        using var window = new SemaphoreSlim(inFlight);
        var pending = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await window.WaitAsync();
            var payload = BitConverter.GetBytes(i);
            pending.Add(PublishReleasingAsync(topic, payload, window));
        }

        await Task.WhenAll(pending);
    }

    /// <summary>Waits (bounded) until <paramref name="predicate"/> holds over what was received.</summary>
    public async Task<bool> WaitForAsync(Func<ConcurrentQueue<(string Topic, byte[] Payload)>, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!predicate(Received))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }

    private async Task PublishReleasingAsync(string topic, byte[] payload, SemaphoreSlim window)
    {
        try
        {
            var result = await PublishAsync(topic, payload);
            if (!result.IsSuccess)
            {
                throw new InvalidOperationException($"publish refused: {result.ReasonCode}");
            }
        }
        finally
        {
            window.Release();
        }
    }
}
