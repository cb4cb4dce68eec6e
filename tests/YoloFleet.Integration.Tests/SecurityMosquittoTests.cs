using MQTTnet;
using YoloFleet.Contracts;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// deploy/mosquitto/production.acl on a real mosquitto 2.0.11 with a mosquitto_passwd password file: wrong passwords
/// are refused at CONNACK, a device cannot publish into or subscribe to another device's topics, and the cloud
/// account sees everything. With openssl, a client certificate's CN is the device's identity on the TLS listener.
/// </summary>
[Trait("Category", "Security")]
public sealed class SecurityMosquittoTests(SecurityMosquitto broker) : IClassFixture<SecurityMosquitto>
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Wrong_or_missing_credentials_are_refused_at_connack()
    {
        await using var wrong = new SecurityClient();
        await using var unknown = new SecurityClient();
        await using var anonymous = new SecurityClient();
        await using var right = new SecurityClient();

        // mosquitto 2.0.11 answers a wrong password (and an unknown user) with CONNACK 0x87 Not authorized.
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, await wrong.ConnectAsync(broker.Port, "sec-pi-a", "sec-pi-a", "not-it"));
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, await unknown.ConnectAsync(broker.Port, "sec-pi-z", "sec-pi-z", "pw-a"));
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, await anonymous.ConnectAsync(broker.Port, "anon-1", null, null));
        Assert.Equal(MqttClientConnectResultCode.Success, await right.ConnectAsync(broker.Port, "sec-pi-a", "sec-pi-a", broker.Password("sec-pi-a")));
    }

    [Fact]
    public async Task A_device_publishes_only_its_own_upstream_topics()
    {
        await using var cloud = await ConnectAsync(SecurityMosquitto.CloudUser, "acl-cloud-" + Guid.NewGuid().ToString("N")[..6]);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.DetectionsKind)));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.DetectionsBatchKind)));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.ModelKind)));
        await using var deviceA = await ConnectAsync("sec-pi-a");

        var own = await deviceA.PublishAsync(Topics.Detections("sec-pi-a"));
        var ownBatch = await deviceA.PublishAsync(Topics.DetectionsBatch("sec-pi-a"));
        var others = await deviceA.PublishAsync(Topics.Detections("sec-pi-b"));
        var othersBatch = await deviceA.PublishAsync(Topics.DetectionsBatch("sec-pi-b"));
        var ownModel = await deviceA.PublishAsync(Topics.ModelAssignment("sec-pi-a"));
        var outside = await deviceA.PublishAsync("elsewhere/x");
        await Poll.UntilAsync(() => Task.FromResult(cloud.Received.Count), n => n >= 2, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        Assert.Equal(MqttClientPublishReasonCode.Success, own);
        Assert.Equal(MqttClientPublishReasonCode.Success, ownBatch);

        // mosquitto 2.0.11 answers an ACL-denied QoS 1 publish with MQTT 5 PUBACK 0x87 Not authorized and drops it: nothing but
        // the device's own topics reached the cloud's subscriptions.
        Assert.Equal([Topics.Detections("sec-pi-a"), Topics.DetectionsBatch("sec-pi-a")], cloud.Received.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, others);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, othersBatch);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, ownModel);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, outside);
    }

    [Fact]
    public async Task A_device_cannot_subscribe_to_another_devices_downstream_topic()
    {
        await using var deviceA = await ConnectAsync("sec-pi-a");
        var ownModel = await deviceA.SubscribeAsync(Topics.ModelAssignment("sec-pi-a"));
        var otherModel = await deviceA.SubscribeAsync(Topics.ModelAssignment("sec-pi-b"));
        var wildcard = await deviceA.SubscribeAsync(Topics.AllDevices(Topics.ModelKind));
        await using var cloud = await ConnectAsync(SecurityMosquitto.CloudUser, "acl-cloud-" + Guid.NewGuid().ToString("N")[..6]);

        await cloud.PublishAsync(Topics.ModelAssignment("sec-pi-b"));
        await cloud.PublishAsync(Topics.ModelAssignment("sec-pi-a"));
        await Poll.UntilAsync(() => Task.FromResult(deviceA.Received.Count), n => n >= 1, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, ownModel);

        // mosquitto 2.0.11 grants the SUBACK for another device's topic (and for a wildcard) but checks "read" on every
        // delivery, so nothing of device B's ever reaches device A.
        // (The wildcard matches A's own topic too, so A may get its own message once per matching subscription.)
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, otherModel);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, wildcard);
        Assert.NotEmpty(deviceA.Received);
        Assert.All(deviceA.Received, topic => Assert.Equal(Topics.ModelAssignment("sec-pi-a"), topic));
    }

    [Fact]
    public async Task A_device_cannot_take_over_another_devices_session_with_its_client_id()
    {
        await using var deviceB = await ConnectAsync("sec-pi-b");
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await deviceB.SubscribeAsync(Topics.ModelAssignment("sec-pi-b")));

        // use_username_as_clientid: A's "sec-pi-b" becomes "sec-pi-a", so B is not disconnected and A gets none of B's traffic.
        await using var impostor = await ConnectAsync("sec-pi-a", clientId: "sec-pi-b");
        await impostor.SubscribeAsync(Topics.ModelAssignment("sec-pi-b"));
        await using var cloud = await ConnectAsync(SecurityMosquitto.CloudUser, "takeover-cloud-" + Guid.NewGuid().ToString("N")[..6]);
        await cloud.PublishAsync(Topics.ModelAssignment("sec-pi-b"));
        await Poll.UntilAsync(() => Task.FromResult(deviceB.Received.Count), n => n >= 1, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        Assert.True(deviceB.IsConnected, "device B was disconnected by a client claiming its client id");
        Assert.Equal([Topics.ModelAssignment("sec-pi-b")], deviceB.Received.ToArray());
        Assert.Empty(impostor.Received);
    }

    [Fact]
    public async Task A_client_certificate_is_the_device_identity_on_the_tls_listener()
    {
        Assert.True(broker.TlsPort > 0, "openssl is not installed: run deploy/install-deps.sh");
        var (certificateFile, keyFile) = await broker.MakeClientCertificateAsync("sec-tls-pi");
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        using var exported = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
        await using var cloud = await ConnectAsync(SecurityMosquitto.CloudUser, "tls-cloud-" + Guid.NewGuid().ToString("N")[..6]);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.TelemetryKind)));
        await using var device = new SecurityClient();

        Assert.Equal(MqttClientConnectResultCode.Success, await device.ConnectAsync(broker.TlsPort, "sec-tls-pi", null, null, (broker.CaFile, exported)));
        await device.PublishAsync(Topics.Telemetry("sec-pi-a"));
        await device.PublishAsync(Topics.Telemetry("sec-tls-pi"));
        await Poll.UntilAsync(() => Task.FromResult(cloud.Received.Count), n => n >= 1, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        Assert.Equal([Topics.Telemetry("sec-tls-pi")], cloud.Received.ToArray());
    }

    [Fact]
    public async Task The_agents_publisher_logs_in_with_its_certificate_and_checks_the_brokers_name()
    {
        Assert.True(broker.TlsPort > 0, "openssl is not installed: run deploy/install-deps.sh");
        var (certificateFile, keyFile) = await broker.MakeClientCertificateAsync("sec-tls-agent");
        await using var cloud = await ConnectAsync(SecurityMosquitto.CloudUser, "tls-cloud-" + Guid.NewGuid().ToString("N")[..6]);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.Root + "/devices/sec-tls-agent/telemetry"));

        // The server certificate names "localhost" only: reaching it as 127.0.0.1 must fail the name check.
        await using (var byAddress = Publisher("127.0.0.1", certificateFile, keyFile))
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => byAddress.EnsureConnectedAsync(timeout.Token));
            Assert.False(byAddress.IsConnected);
        }

        await using var byName = Publisher("localhost", certificateFile, keyFile);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await byName.EnsureConnectedAsync(timeout.Token);
        }

        var kinds = new System.Collections.Concurrent.ConcurrentQueue<string>();
        byName.DownstreamReceived = (kind, _) =>
        {
            kinds.Enqueue(kind);
            return Task.CompletedTask;
        };
        await byName.PublishAsync(Topics.Telemetry("sec-tls-agent"), new byte[] { 1, 2, 3 }, CancellationToken.None);
        await Poll.UntilAsync(() => Task.FromResult(cloud.Received.Count), n => n >= 1, Settle);
        Assert.Equal([Topics.Telemetry("sec-tls-agent")], cloud.Received.ToArray());

        // The agent subscribed to its own model topic on connecting; another device's assignment never reaches it.
        Assert.Equal(0, byName.SubscriptionsRefused);
        await cloud.PublishAsync(Topics.ModelAssignment("sec-pi-a"));
        await cloud.PublishAsync(Topics.ModelAssignment("sec-tls-agent"));
        await Poll.UntilAsync(() => Task.FromResult(byName.DownstreamMessagesReceived), n => n >= 1, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, byName.DownstreamMessagesReceived);
        Assert.Equal([Topics.ModelKind], kinds.ToArray());
    }

    private YoloFleet.EdgeAgent.Publishing.MqttPublisher Publisher(string host, string certificateFile, string keyFile)
    {
        var options = new YoloFleet.EdgeAgent.EdgeAgentOptions
        {
            DeviceId = "sec-tls-agent",
            Broker = new YoloFleet.EdgeAgent.BrokerOptions
            {
                Host = host,
                Port = broker.TlsPort,
                Tls = new YoloFleet.EdgeAgent.Identity.BrokerTlsOptions
                {
                    Enabled = true,
                    CaFile = broker.CaFile,
                    ClientCertificateFile = certificateFile,
                    ClientKeyFile = keyFile,
                },
            },
        };
        return new YoloFleet.EdgeAgent.Publishing.MqttPublisher(
            options, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<YoloFleet.EdgeAgent.Publishing.MqttPublisher>.Instance);
    }

    private async Task<SecurityClient> ConnectAsync(string user, string? clientId = null)
    {
        var client = new SecurityClient();
        var port = user == SecurityMosquitto.CloudUser ? broker.CloudPort : broker.Port;
        var code = await client.ConnectAsync(port, clientId ?? user, user, broker.Password(user));
        Assert.True(code == MqttClientConnectResultCode.Success, $"{user} could not connect: {code}\n{broker.Log()}");
        return client;
    }
}
