using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using YoloFleet.Cloud;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The production path: a silo logs in over TLS to the production-configured mosquitto as yolofleet-cloud (its shared
/// subscriptions pass production.acl) and a credentialed agent's frames reach PostgreSQL.
/// </summary>
[Trait("Category", "Security")]
public sealed class SecurityMosquittoEndToEndTests(SecurityMosquitto broker, PostgresDatabase database)
    : IClassFixture<SecurityMosquitto>, IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task A_credentialed_agent_reaches_postgres_through_the_production_acl()
    {
        const int frames = 5;
        Assert.True(broker.CloudTlsPort > 0, "openssl is not installed: run deploy/install-deps.sh");
        var settings = SecurityFleet.CloudSettings(
            database.ConnectionString, broker.CloudTlsPort, embeddedBroker: false, SecurityMosquitto.CloudPassword, passwordFile: null, apiKeyHash: null);

        // The silo speaks TLS to its listener and checks the broker's certificate, which names "localhost" only.
        settings["Cloud:Mqtt:Tls:Enabled"] = "true";
        settings["Cloud:Mqtt:Tls:CaFile"] = broker.CaFile;
        settings["Cloud:Mqtt:Tls:ServerName"] = "localhost";
        var cloud = CloudHost.Build([], settings);
        await using var _ = cloud;
        await cloud.StartAsync();
        var ingest = cloud.Services.GetRequiredService<MqttIngestService>();
        Assert.True(
            await Poll.UntilAsync(() => Task.FromResult(ingest.IsSubscribed), s => s, TimeSpan.FromSeconds(30)),
            "the silo never subscribed as yolofleet-cloud:\n" + broker.Log());

        await SecurityFleet.RunAgentAsync("sec-agent", broker.Password("sec-agent"), broker.Port, frames);

        var committed = await Poll.UntilAsync(
            () => Task.FromResult(cloud.Services.GetRequiredService<IngestCounters>().Snapshot().FramesCommitted), n => n >= frames, TimeSpan.FromSeconds(30));
        Assert.Equal(frames, committed);

        // No keys configured: the API is closed, health is not.
        using var http = new HttpClient { BaseAddress = new Uri(cloud.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/ingest/stats")).StatusCode);
    }
}
