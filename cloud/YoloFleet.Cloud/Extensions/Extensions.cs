using System.Net;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using StackExchange.Redis;
using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Delivery;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Models;
using YoloFleet.Cloud.Mqtt;
using YoloFleet.Cloud.Rollouts;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Extensions;

public static class Extensions
{
    /// <summary>Wires the silo: options, PostgreSQL, Orleans, the embedded broker (optional) and MQTT ingest.</summary>
    public static WebApplicationBuilder AddFleetCloud(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CloudOptions>()
            .Bind(builder.Configuration.GetSection(CloudOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<CloudOptions>>().Value);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddFleetSecurity();
        builder.Services.AddApiProblemDetails();
        builder.Services.AddFleetOpenApi();

        var options = builder.Configuration.GetSection(CloudOptions.Section).Get<CloudOptions>() ?? new CloudOptions();
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(options.Database));
        builder.Services.AddSingleton<FrameBatchWriter>();
        builder.Services.AddSingleton<IngestCounters>();
        builder.Services.AddSingleton<FrameIngestQueue>();
        builder.Services.AddFleetStorage();

        // Hosted services start in registration order: the broker before anything that connects to it.
        builder.Services.AddSingleton<EmbeddedBrokerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedBrokerService>());

        builder.UseOrleans(silo =>
        {
            silo.AddDeviceGrainStorage(options);
            if (options.Silo.Clustering == ClusteringMode.Redis)
            {
                // Membership in a shared durable store: see docs/architecture.md for why Redis.
                silo.UseRedisClustering(redis => redis.ConfigurationOptions = ConfigurationOptions.Parse(options.Silo.Redis!));
                silo.Configure<ClusterOptions>(cluster =>
                {
                    cluster.ClusterId = options.Silo.ClusterId;
                    cluster.ServiceId = options.Silo.ServiceId;
                });
                // Loopback by default; in containers the address the other silos reach this one at (docker-compose.yml).
                var advertised = options.Silo.ResolveAdvertisedAddress();
                silo.ConfigureEndpoints(advertised, options.Silo.SiloPort, options.Silo.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
            }
            else
            {
                silo.UseLocalhostClustering(
                    options.Silo.SiloPort,
                    options.Silo.GatewayPort,
                    new IPEndPoint(IPAddress.Loopback, options.Silo.PrimarySiloPort),
                    options.Silo.ServiceId,
                    options.Silo.ClusterId);
            }
        });

        // The silo's own downstream connection (commit confirmations, model assignments), used by grains and services.
        builder.Services.AddSingleton<MqttDownlink>();
        builder.Services.AddSingleton<YoloFleet.Cloud.Abstractions.IDeviceDownlink>(sp => sp.GetRequiredService<MqttDownlink>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MqttDownlink>());

        // The model registry: artifacts, signing, quantize jobs, assignments (after the downlink, which it publishes through).
        builder.AddModelRegistry();
        // Staged rollouts: the grain's store and metrics, and the keeper that re-activates running rollouts after a restart.
        builder.AddRollouts();
        // Commit confirmations, delivery reports and gap requests; registered after the downlink so they stop before it.
        builder.Services.AddFleetDelivery();

        // Registered before the batch writer so that it stops after it and sends the last batches' updates.
        builder.Services.AddSingleton<CommittedFramesNotifier>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CommittedFramesNotifier>());
        builder.Services.AddHostedService<FrameBatchService>();
        builder.Services.AddSingleton<MqttIngestService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MqttIngestService>());
        return builder;
    }
}
