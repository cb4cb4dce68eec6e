using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using YoloFleet.Contracts;

namespace YoloFleet.EdgeAgent.Publishing;

/// <summary>
/// The device's MQTT connection: MQTT 5, a persistent session named after the device, a retained online/offline status
/// (offline through the will message), and QoS 1 publishes that return only once the broker acknowledged them.
/// </summary>
public sealed partial class MqttPublisher(EdgeAgentOptions options, TimeProvider time, ILogger<MqttPublisher> logger) : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly SemaphoreSlim _connectGate = new(1, 1);

    public bool IsConnected => _client.IsConnected;

    /// <summary>Connects, retrying with exponential back-off (capped at 30 s) until it succeeds or is cancelled.</summary>
    public async Task EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        if (_client.IsConnected)
        {
            return;
        }

        await _connectGate.WaitAsync(cancellationToken);
        try
        {
            var delay = TimeSpan.FromMilliseconds(250);
            while (!_client.IsConnected)
            {
                try
                {
                    var result = await _client.ConnectAsync(BuildOptions(), cancellationToken);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        throw new InvalidOperationException($"broker refused the connection: {result.ResultCode} {result.ReasonString}");
                    }

                    await PublishStatusAsync("online", cancellationToken);
                    LogConnected(options.Broker.Host, options.Broker.Port, options.DeviceId);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogConnectFailed(options.Broker.Host, options.Broker.Port, ex.Message, delay.TotalMilliseconds);
                    await Task.Delay(delay, time, cancellationToken);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 30_000));
                }
            }
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>
    /// Publishes at QoS 1 and completes when the broker acknowledged it. Several calls may be in flight at once; they
    /// go out in call order. Throws when not connected or when the broker refused the message.
    /// </summary>
    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (!_client.IsConnected)
        {
            throw new InvalidOperationException("Not connected to the MQTT broker.");
        }

        var application = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayloadSegment(payload)
            .WithContentType(SchemaVersions.ContentType)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        var result = await _client.PublishAsync(application, cancellationToken);

        // MQTTnet counts "no matching subscribers" as success, but the broker has then dropped the message.
        if (!result.IsSuccess || (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers && options.Broker.HoldWhenNoSubscriber))
        {
            throw new BrokerRefusedException(topic, result.ReasonCode, result.ReasonString);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                await PublishStatusAsync("offline", CancellationToken.None);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build());
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogDisconnectFailed(ex.Message);
            }
        }

        _client.Dispose();
        _connectGate.Dispose();
    }

    private MqttClientOptions BuildOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Broker.Host, options.Broker.Port)
            .WithClientId(options.DeviceId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(24 * 3600)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(Topics.Status(options.DeviceId))
            .WithWillPayload("offline")
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (!string.IsNullOrEmpty(options.Broker.Password))
        {
            builder = builder.WithCredentials(options.Broker.Username ?? options.DeviceId, options.Broker.Password);
        }

        return builder.Build();
    }

    private Task PublishStatusAsync(string status, CancellationToken cancellationToken) =>
        _client.PublishAsync(
            new MqttApplicationMessageBuilder()
                .WithTopic(Topics.Status(options.DeviceId))
                .WithPayload(status)
                .WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(),
            cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to MQTT broker {Host}:{Port} as {DeviceId}")]
    private partial void LogConnected(string host, int port, string deviceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot connect to MQTT broker {Host}:{Port} ({Error}); retrying in {DelayMs} ms")]
    private partial void LogConnectFailed(string host, int port, string error, double delayMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Clean disconnect failed: {Error}")]
    private partial void LogDisconnectFailed(string error);
}

/// <summary>The broker answered a publish with a failure reason code.</summary>
public sealed class BrokerRefusedException(string topic, MqttClientPublishReasonCode reason, string? detail)
    : Exception($"The broker refused the publish on {topic}: {reason} {detail}")
{
    public MqttClientPublishReasonCode Reason { get; } = reason;

    /// <summary>Refusals that sending again cannot fix (permissions, a topic or payload the broker will never take).</summary>
    public bool IsPermanent => Reason is MqttClientPublishReasonCode.NotAuthorized
        or MqttClientPublishReasonCode.TopicNameInvalid
        or MqttClientPublishReasonCode.PayloadFormatInvalid;
}
