using Microsoft.Extensions.Hosting;
using MQTTnet;
using MQTTnet.Protocol;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Mqtt;

/// <summary>
/// This silo's downstream MQTT connection (cloud → device): commit confirmations and retained model assignments. It is a
/// connection of its own, so that publishing never waits behind ingest's in-order acknowledgements, and it keeps no
/// session: it only publishes. It reconnects with back-off; a publish while it is down waits up to
/// <see cref="ConnectWait"/>, then fails with <see cref="DownlinkUnavailableException"/> for the caller to retry.
/// </summary>
public sealed partial class MqttDownlink(CloudOptions options, TimeProvider time, ILogger<MqttDownlink> logger) : BackgroundService, IDeviceDownlink
{
    /// <summary>How long a publish waits for a connection before it fails.</summary>
    public static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(5);

    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly SemaphoreSlim _connected = new(0, 1);
    private long _published;
    private long _failed;

    /// <summary>Messages the broker acknowledged.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Publishes that failed (not connected in time, or refused).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public bool IsConnected => _client.IsConnected;

    public async Task PublishAsync(string deviceId, string kind, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken = default)
    {
        if (!Topics.DownstreamKinds.Contains(kind))
        {
            throw new ArgumentException($"'{kind}' is not a downstream kind ({string.Join(", ", Topics.DownstreamKinds)}).", nameof(kind));
        }

        var message = new MqttApplicationMessageBuilder()
            .WithTopic(Topics.DeviceTopic(deviceId, kind))
            .WithPayloadSegment(payload)
            .WithContentType(SchemaVersions.ContentType)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain)
            .Build();
        try
        {
            if (!_client.IsConnected)
            {
                await WaitForConnectionAsync(cancellationToken);
            }

            var result = await _client.PublishAsync(message, cancellationToken);
            if (!result.IsSuccess)
            {
                throw new DownlinkUnavailableException($"The broker refused {message.Topic}: {result.ReasonCode} {result.ReasonString}");
            }

            Interlocked.Increment(ref _published);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failed);
            throw ex as DownlinkUnavailableException ?? new DownlinkUnavailableException($"Publishing {message.Topic} failed: {ex.Message}", ex);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ConnectAsync(stoppingToken);
                backoff = TimeSpan.FromMilliseconds(200);
                LogConnected(options.Mqtt.Host, options.Mqtt.Port);
                SignalConnected();

                // Watch the connection; MQTTnet's samples warn against reconnecting from DisconnectedAsync.
                while (await _client.TryPingAsync(stoppingToken))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                }

                LogLost(options.Mqtt.Host, options.Mqtt.Port);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogConnectFailed(options.Mqtt.Host, options.Mqtt.Port, ex.Message, backoff.TotalMilliseconds);
                await Task.Delay(backoff, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 10_000));
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), cancellationToken);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogDisconnectFailed(ex.Message);
            }
        }
    }

    public override void Dispose()
    {
        _client.Dispose();
        _connected.Dispose();
        base.Dispose();
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(cancellationToken: cancellationToken);
        }

        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Mqtt.Host, options.Mqtt.Port)
            .WithClientId(options.Mqtt.ClientIdPrefix + "-downlink-" + options.Silo.SiloPort)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithMaximumPacketSize(ProtocolLimits.MaxPacketBytes)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(options.Mqtt.Username))
        {
            builder = builder.WithCredentials(options.Mqtt.Username, options.Mqtt.Password);
        }

        builder = Security.SiloBrokerTls.Apply(builder, options.Mqtt.Tls, options.Mqtt.Host);
        var result = await _client.ConnectAsync(builder.Build(), cancellationToken);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"The broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }
    }

    private void SignalConnected()
    {
        // Wakes one waiter; each waiter passes the signal on, so every publish waiting for the connection goes.
        if (_connected.CurrentCount == 0)
        {
            _connected.Release();
        }
    }

    private async Task WaitForConnectionAsync(CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp() + (long)(ConnectWait.TotalSeconds * time.TimestampFrequency);
        while (!_client.IsConnected)
        {
            var left = time.GetElapsedTime(time.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero || !await _connected.WaitAsync(left, cancellationToken))
            {
                throw new DownlinkUnavailableException($"Not connected to the MQTT broker at {options.Mqtt.Host}:{options.Mqtt.Port} within {ConnectWait.TotalSeconds} s.");
            }
        }

        SignalConnected();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Downlink connected to the MQTT broker at {Host}:{Port}")]
    private partial void LogConnected(string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Downlink lost the MQTT broker at {Host}:{Port}; reconnecting")]
    private partial void LogLost(string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Downlink cannot reach the MQTT broker at {Host}:{Port} ({Error}); retrying in {DelayMs} ms")]
    private partial void LogConnectFailed(string host, int port, string error, double delayMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Downlink clean disconnect failed: {Error}")]
    private partial void LogDisconnectFailed(string error);
}
