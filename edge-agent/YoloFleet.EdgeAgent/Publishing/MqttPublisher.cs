using System.Buffers;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using YoloFleet.Contracts;
using YoloFleet.EdgeAgent.Identity;

namespace YoloFleet.EdgeAgent.Publishing;

/// <summary>
/// The device's MQTT connection: MQTT 5, a persistent session named after the device, a retained online/offline status
/// (offline through the will message), and QoS 1 publishes that return only once the broker acknowledged them.
/// It logs in as the device (user name and password, or a TLS client certificate; see <see cref="BrokerIdentity"/>)
/// and subscribes to this device's own downstream topics only, which is all a production broker's ACL allows.
/// </summary>
public sealed partial class MqttPublisher : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly EdgeAgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<MqttPublisher> _logger;
    private readonly X509Certificate2Collection? _trustedCa;
    private readonly X509Certificate2? _clientCertificate;
    private readonly Dictionary<string, IDownstreamHandler> _handlers = new(StringComparer.Ordinal);
    private long _downstreamReceived;
    private long _downstreamFailed;
    private long _subscriptionsRefused;

    public MqttPublisher(EdgeAgentOptions options, TimeProvider time, ILogger<MqttPublisher> logger, IEnumerable<IDownstreamHandler>? handlers = null)
    {
        foreach (var handler in handlers ?? [])
        {
            if (!Topics.DownstreamKinds.Contains(handler.Kind) || !_handlers.TryAdd(handler.Kind, handler))
            {
                throw new ArgumentException($"Downstream handler {handler.GetType().Name} is for '{handler.Kind}', which is not a downstream kind or has a handler already.", nameof(handlers));
            }
        }

        _options = options;
        _time = time;
        _logger = logger;
        if (options.Broker.Tls.Enabled)
        {
            _trustedCa = string.IsNullOrEmpty(options.Broker.Tls.CaFile) ? null : BrokerIdentity.LoadCa(options.Broker.Tls.CaFile);
            _clientCertificate = string.IsNullOrEmpty(options.Broker.Tls.ClientCertificateFile) ? null : BrokerIdentity.LoadClientCertificate(options.Broker.Tls);
        }

        _client.ApplicationMessageReceivedAsync += OnDownstreamAsync;
    }

    public bool IsConnected => _client.IsConnected;

    /// <summary>This device's downstream topics (cloud → device): the only filters it subscribes to.</summary>
    public IReadOnlyList<string> DownstreamTopics => [.. Topics.DownstreamKinds.Select(kind => Topics.DeviceTopic(_options.DeviceId, kind))];

    /// <summary>Called for each message on a downstream topic with the topic's kind, before its <see cref="IDownstreamHandler"/>.</summary>
    public Func<string, ReadOnlySequence<byte>, Task>? DownstreamReceived { get; set; }

    /// <summary>Downstream messages received since start.</summary>
    public long DownstreamMessagesReceived => Interlocked.Read(ref _downstreamReceived);

    /// <summary>Downstream messages whose handling threw (logged; the connection carries on).</summary>
    public long DownstreamMessagesFailed => Interlocked.Read(ref _downstreamFailed);

    /// <summary>Downstream subscriptions the broker refused (its ACL does not grant this device its own topics).</summary>
    public long SubscriptionsRefused => Interlocked.Read(ref _subscriptionsRefused);

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
                    await SubscribeDownstreamAsync(cancellationToken);
                    LogConnected(_options.Broker.Host, _options.Broker.Port, _options.DeviceId);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogConnectFailed(_options.Broker.Host, _options.Broker.Port, ex.Message, delay.TotalMilliseconds);
                    await Task.Delay(delay, _time, cancellationToken);
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
        if (!result.IsSuccess || (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers && _options.Broker.HoldWhenNoSubscriber))
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
        _clientCertificate?.Dispose();
    }

    private async Task SubscribeDownstreamAsync(CancellationToken cancellationToken)
    {
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var topic in DownstreamTopics)
        {
            subscribe.WithTopicFilter(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var result = await _client.SubscribeAsync(subscribe.Build(), cancellationToken);
        foreach (var item in result.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                Interlocked.Increment(ref _subscriptionsRefused);
                LogSubscriptionRefused(item.TopicFilter.Topic, item.ResultCode.ToString());
            }
        }
    }

    private async Task OnDownstreamAsync(MqttApplicationMessageReceivedEventArgs args)
    {
        // Only our own downstream topics were subscribed; anything else is ignored, never trusted.
        if (!Topics.TryParse(args.ApplicationMessage.Topic, out var device, out var kind)
            || !string.Equals(device, _options.DeviceId, StringComparison.Ordinal))
        {
            return;
        }

        Interlocked.Increment(ref _downstreamReceived);
        LogDownstream(kind, args.ApplicationMessage.Payload.Length);
        try
        {
            if (DownstreamReceived is { } observer)
            {
                await observer(kind, args.ApplicationMessage.Payload);
            }

            if (_handlers.TryGetValue(kind, out var handler))
            {
                await handler.HandleAsync(args.ApplicationMessage.Payload, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bad downstream message must not take the connection (and the upstream traffic) down with it.
            Interlocked.Increment(ref _downstreamFailed);
            LogDownstreamFailed(kind, ex.Message);
        }
    }

    private MqttClientOptions BuildOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Broker.Host, _options.Broker.Port)
            .WithClientId(_options.DeviceId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(24 * 3600)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(Topics.Status(_options.DeviceId))
            .WithWillPayload("offline")
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (!string.IsNullOrEmpty(_options.Broker.Username))
        {
            builder = builder.WithCredentials(_options.Broker.Username, _options.Broker.Password);
        }

        var tls = _options.Broker.Tls;
        if (tls.Enabled)
        {
            var tlsOptions = new MqttClientTlsOptionsBuilder()
                .UseTls()
                .WithSslProtocols(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
                .WithTargetHost(string.IsNullOrEmpty(tls.ServerName) ? _options.Broker.Host : tls.ServerName)
                .WithCertificateValidationHandler(e => BrokerIdentity.ValidateServerCertificate(e.Certificate, e.SslPolicyErrors, _trustedCa, tls.CheckServerName));
            if (_clientCertificate is not null)
            {
                tlsOptions = tlsOptions.WithClientCertificates([_clientCertificate]);
            }

            builder = builder.WithTlsOptions(tlsOptions.Build());
        }

        return builder.Build();
    }

    private Task PublishStatusAsync(string status, CancellationToken cancellationToken) =>
        _client.PublishAsync(
            new MqttApplicationMessageBuilder()
                .WithTopic(Topics.Status(_options.DeviceId))
                .WithPayload(status)
                .WithRetainFlag(true)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(),
            cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to MQTT broker {Host}:{Port} as {DeviceId}")]
    private partial void LogConnected(string host, int port, string deviceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot connect to MQTT broker {Host}:{Port} ({Error}); retrying in {DelayMs} ms")]
    private partial void LogConnectFailed(string host, int port, string error, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The broker refused this device's subscription to {Topic}: {Reason} (check its ACL)")]
    private partial void LogSubscriptionRefused(string topic, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Received a {Kind} message ({Bytes} bytes) from the cloud")]
    private partial void LogDownstream(string kind, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handling a {Kind} message from the cloud failed: {Error}")]
    private partial void LogDownstreamFailed(string kind, string error);

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
