using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MQTTnet;
using YoloFleet.Cloud;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Mqtt;
using YoloFleet.Cloud.Net;
using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;
using YoloFleet.EdgeAgent;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The embedded MQTTnet broker is secure by default: it checks a mosquitto_passwd file (lines from the real tool
/// verify), enforces the same per-device ACL as production.acl, and counts every refusal by reason. The whole silo
/// runs that way end to end with a credentialed agent, and its /api needs a key.
/// </summary>
[Trait("Category", "Security")]
public sealed class SecurityEmbeddedBrokerTests : IClassFixture<PostgresDatabase>, IDisposable
{
    private const string CloudPassword = "silo-pw";
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);
    private readonly PostgresDatabase _database;
    private readonly string _directory = Directory.CreateTempSubdirectory("yf-secemb-").FullName;

    public SecurityEmbeddedBrokerTests(PostgresDatabase database) => _database = database;

    private string PasswordFilePath => Path.Combine(_directory, "passwd");

    [Fact]
    public async Task Credentials_client_ids_and_topics_are_checked_and_every_refusal_is_counted()
    {
        await WritePasswordFileAsync(("emb-pi-a", "pw-a"), ("emb-pi-b", "pw-b"));
        using var counters = new SecurityCounters();
        var options = new BrokerSecurityOptions { PasswordFile = PasswordFilePath };
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(port, 10_000, access: BrokerAccessPolicy.From(options, counters));

        await using (var wrong = new SecurityClient())
        await using (var anonymous = new SecurityClient())
        await using (var impostor = new SecurityClient())
        {
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await wrong.ConnectAsync(port, "emb-pi-a", "emb-pi-a", "pw-b"));
            Assert.Equal(MqttClientConnectResultCode.NotAuthorized, await anonymous.ConnectAsync(port, "anon", null, null));

            // Device A's credentials with device B's client id would take over B's session.
            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await impostor.ConnectAsync(port, "emb-pi-b", "emb-pi-a", "pw-a"));
        }

        await using var cloud = new SecurityClient();
        Assert.Equal(MqttClientConnectResultCode.Success, await cloud.ConnectAsync(port, "emb-cloud-1", BrokerSecurityOptions.DefaultCloudUser, CloudPassword));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.DetectionsKind)));
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, await cloud.SubscribeAsync("#"));
        await using var deviceA = new SecurityClient();
        Assert.Equal(MqttClientConnectResultCode.Success, await deviceA.ConnectAsync(port, "emb-pi-a", "emb-pi-a", "pw-a"));

        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await deviceA.SubscribeAsync(Topics.ModelAssignment("emb-pi-a")));
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, await deviceA.SubscribeAsync(Topics.ModelAssignment("emb-pi-b")));
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, await deviceA.SubscribeAsync(Topics.AllDevices(Topics.ModelKind)));
        Assert.Equal(MqttClientPublishReasonCode.Success, await deviceA.PublishAsync(Topics.Detections("emb-pi-a")));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await deviceA.PublishAsync(Topics.Detections("emb-pi-b")));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await deviceA.PublishAsync(Topics.ModelAssignment("emb-pi-a")));
        await cloud.PublishAsync(Topics.ModelAssignment("emb-pi-b"));
        await cloud.PublishAsync(Topics.ModelAssignment("emb-pi-a"));
        await Poll.UntilAsync(() => Task.FromResult(cloud.Received.Count + deviceA.Received.Count), n => n >= 2, Settle);
        await Task.Delay(TimeSpan.FromMilliseconds(300));

        Assert.Equal([Topics.Detections("emb-pi-a")], cloud.Received.ToArray());
        Assert.Equal([Topics.ModelAssignment("emb-pi-a")], deviceA.Received.ToArray());
        Assert.Equal(1, counters.RefusedCount(RefusalReasons.ConnectBadPassword));
        Assert.Equal(1, counters.RefusedCount(RefusalReasons.ConnectNoCredentials));
        Assert.Equal(1, counters.RefusedCount(RefusalReasons.ConnectClientIdMismatch));
        Assert.Equal(1, counters.RefusedCount("mqtt.subscribe.other_device"));
        Assert.Equal(2, counters.RefusedCount("mqtt.subscribe.outside_tree"));
        Assert.Equal(1, counters.RefusedCount("mqtt.publish.other_device"));
        Assert.Equal(1, counters.RefusedCount("mqtt.publish.wrong_direction"));
        Assert.True(broker.DroppedMessages == 0);
    }

    [Fact]
    public async Task A_will_message_on_another_devices_topic_is_refused_like_any_publish()
    {
        await WritePasswordFileAsync(("emb-pi-a", "pw-a"), ("emb-pi-b", "pw-b"));
        using var counters = new SecurityCounters();
        var port = LoopbackPorts.GetFree();
        await using var broker = await EmbeddedBroker.StartAsync(
            port, 10_000, access: BrokerAccessPolicy.From(new BrokerSecurityOptions { PasswordFile = PasswordFilePath }, counters));
        await using var cloud = new SecurityClient();
        Assert.Equal(MqttClientConnectResultCode.Success, await cloud.ConnectAsync(port, "emb-cloud-2", BrokerSecurityOptions.DefaultCloudUser, CloudPassword));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await cloud.SubscribeAsync(Topics.AllDevices(Topics.StatusKind)));

        // Device B sets its will on device A's status topic, then vanishes without a DISCONNECT.
        foreach (var (willOf, expected) in new[] { ("emb-pi-a", 0), ("emb-pi-b", 1) })
        {
            var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder()
                .WithTcpServer("127.0.0.1", port)
                .WithClientId("emb-pi-b")
                .WithCredentials("emb-pi-b", "pw-b")
                .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                .WithWillTopic(Topics.Status(willOf))
                .WithWillPayload("offline")
                .Build());
            client.Dispose();
            await Poll.UntilAsync(() => Task.FromResult(cloud.Received.Count), n => n >= expected, Settle);
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            Assert.Equal(expected, cloud.Received.Count);
        }

        Assert.Equal([Topics.Status("emb-pi-b")], cloud.Received.ToArray());
        Assert.Equal(1, counters.RefusedCount("mqtt.publish.other_device"));
    }

    [Fact]
    public async Task A_silo_with_an_embedded_broker_and_no_credentials_refuses_to_start_and_names_the_setting()
    {
        var app = CloudHost.Build([], SecurityFleet.CloudSettings(_database.ConnectionString, LoopbackPorts.GetFree(), embeddedBroker: true, CloudPassword, passwordFile: null, apiKeyHash: null));
        try
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
            Assert.Contains("Cloud:Security:PasswordFile", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_credentialed_agent_reaches_postgres_through_the_secured_silo_and_the_api_needs_a_key()
    {
        const string device = "emb-agent-1";
        const int frames = 5;
        await WritePasswordFileAsync((device, "agent-pw"));
        var (key, hash) = ApiKeys.Mint();
        var port = LoopbackPorts.GetFree();
        var cloud = CloudHost.Build([], SecurityFleet.CloudSettings(_database.ConnectionString, port, embeddedBroker: true, CloudPassword, PasswordFilePath, hash));
        await using var _ = cloud;
        await cloud.StartAsync();
        var ingest = cloud.Services.GetRequiredService<MqttIngestService>();
        Assert.True(await Poll.UntilAsync(() => Task.FromResult(ingest.IsSubscribed), s => s, TimeSpan.FromSeconds(30)), "the silo never subscribed with its credentials");

        // An impostor with the right device id but the wrong password never gets in.
        await using (var impostor = new SecurityClient())
        {
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await impostor.ConnectAsync(port, device, device, "guess"));
        }

        await SecurityFleet.RunAgentAsync(device, "agent-pw", port, frames);
        var committed = await Poll.UntilAsync(
            () => Task.FromResult(cloud.Services.GetRequiredService<IngestCounters>().Snapshot().FramesCommitted), n => n >= frames, TimeSpan.FromSeconds(30));
        Assert.Equal(frames, committed);

        using var http = new HttpClient { BaseAddress = new Uri(cloud.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/ingest/stats")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/devices/{device}")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var stats = await http.GetFromJsonAsync<IngestStats>("/api/ingest/stats");
        Assert.Equal(frames, stats!.FramesCommitted);
        var security = await http.GetFromJsonAsync<SecurityStats>("/api/security/stats");
        Assert.Equal(1, security!.RefusedByReason[RefusalReasons.ConnectBadPassword]);
        Assert.Equal(2, security.RefusedByReason[RefusalReasons.ApiMissingKey]);
        Assert.True(security.BrokerConnectionsAccepted >= 2, "the silo and the agent should have connected");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private async Task WritePasswordFileAsync(params (string User, string Password)[] devices)
    {
        // The cloud's line from our own writer, the devices' from the real mosquitto_passwd: one file, both formats.
        await File.WriteAllTextAsync(PasswordFilePath, PasswordFile.CreateLine(BrokerSecurityOptions.DefaultCloudUser, CloudPassword) + "\n");
        foreach (var (user, password) in devices)
        {
            using var process = Process.Start("mosquitto_passwd", ["-b", PasswordFilePath, user, password]);
            await process.WaitForExitAsync();
            Assert.Equal(0, process.ExitCode);
        }
    }
}
