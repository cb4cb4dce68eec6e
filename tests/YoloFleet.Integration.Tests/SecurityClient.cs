using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Protocol;

namespace YoloFleet.Integration.Tests;

/// <summary>An MQTT 5 test client that logs in (password or client certificate) and records what it receives.</summary>
public sealed class SecurityClient : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public SecurityClient() =>
        _client.ApplicationMessageReceivedAsync += e =>
        {
            Received.Enqueue(e.ApplicationMessage.Topic);
            return Task.CompletedTask;
        };

    public ConcurrentQueue<string> Received { get; } = new();

    /// <summary>Connects; returns the CONNACK's result code (refusals included, never thrown).</summary>
    public async Task<MqttClientConnectResultCode> ConnectAsync(
        int port, string clientId, string? user, string? password, (string Ca, X509Certificate2 Client)? tls = null)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId(clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (user is not null)
        {
            builder = builder.WithCredentials(user, password);
        }

        if (tls is { } t)
        {
            var ca = new X509Certificate2Collection();
            ca.ImportFromPemFile(t.Ca);
            builder = builder.WithTlsOptions(o => o.UseTls()
                .WithTargetHost("localhost")
                .WithClientCertificates([t.Client])
                .WithCertificateValidationHandler(e => YoloFleet.EdgeAgent.Identity.BrokerIdentity.ValidateServerCertificate(
                    e.Certificate, e.SslPolicyErrors, ca, checkServerName: true)));
        }

        try
        {
            return (await _client.ConnectAsync(builder.Build())).ResultCode;
        }
        catch (MQTTnet.Adapter.MqttConnectingFailedException)
        {
            // MQTTnet 5 returns refusals in the result; this is a transport failure (TLS handshake, say).
            return MqttClientConnectResultCode.UnspecifiedError;
        }
    }

    public async Task<MqttClientSubscribeResultCode> SubscribeAsync(string filter)
    {
        var result = await _client.SubscribeAsync(
            new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return result.Items.Single().ResultCode;
    }

    public async Task<MqttClientPublishReasonCode> PublishAsync(string topic)
    {
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload("x")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        return result.ReasonCode;
    }

    public bool IsConnected => _client.IsConnected;

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
