using Orleans.Storage;
using StackExchange.Redis;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Data.Retention;
using YoloFleet.Cloud.Data.Verification;
using YoloFleet.Cloud.Grains;
using YoloFleet.Cloud.Verification;

namespace YoloFleet.Cloud.Ingest;

/// <summary>Wiring for storage beyond detections: registry, hard frames, telemetry, the FP32 verifier, retention, grain state.</summary>
public static class StorageServices
{
    public static IServiceCollection AddFleetStorage(this IServiceCollection services)
    {
        services.AddSingleton(sp => sp.GetRequiredService<CloudOptions>().Verifier);
        services.AddSingleton<DeviceDirectory>();
        services.AddSingleton<UpstreamWriter>();
        services.AddSingleton<YoloFleet.Cloud.Data.Scene.ObjectEventAnalytics>();
        services.AddSingleton<YoloFleet.Cloud.Data.Detections.DetectionHistory>();
        services.AddSingleton<VerificationWriter>();
        services.AddSingleton<RetentionSweeper>();
        services.AddSingleton<DeviceAdmission>();
        services.AddHostedService<AdmissionRefreshService>();
        services.AddSingleton<UpstreamStorage>();
        services.AddSingleton<VerificationCounters>();
        services.AddSingleton<VerificationQueue>();
        services.AddHostedService<VerifierService>();
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return services;
    }

    /// <summary>
    /// Device grain state: in Redis with Redis clustering (durable, shared by every silo, so a device's state survives
    /// the silo that held it), in memory with localhost clustering (single host, demo).
    /// </summary>
    public static ISiloBuilder AddDeviceGrainStorage(this ISiloBuilder silo, CloudOptions options)
    {
        silo.Services.AddSingleton(new DeviceStateStorage(Durable: options.Silo.Clustering == ClusteringMode.Redis));
        if (options.Silo.Clustering == ClusteringMode.Redis)
        {
            silo.AddRedisGrainStorage(DeviceGrain.StorageName, redis =>
            {
                redis.ConfigurationOptions = ConfigurationOptions.Parse(options.Silo.Redis!);
            });
        }
        else
        {
            silo.AddMemoryGrainStorage(DeviceGrain.StorageName);
        }

        return silo;
    }
}
