using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Registry;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Cloud.Registry.Assignments;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Registry.Quantization;
using YoloFleet.Cloud.Registry.Signing;

namespace YoloFleet.Cloud.Models;

/// <summary>Wires the model registry into the silo (docs/registry.md): options, stores, signing, jobs, assignments.</summary>
public static class ModelRegistryHosting
{
    public static WebApplicationBuilder AddModelRegistry(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ModelRegistryOptions>()
            .Bind(builder.Configuration.GetSection(ModelRegistryOptions.Section))
            .Configure<IOptions<CloudOptions>>((models, cloud) =>
            {
                if (string.IsNullOrWhiteSpace(models.StateDirectory))
                {
                    models.StateDirectory = cloud.Value.StateDirectory;
                }
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ModelRegistryOptions>>().Value);

        services.AddSingleton<IArtifactStore>(sp => new FileSystemArtifactStore(sp.GetRequiredService<ModelRegistryOptions>().ResolvedArtifactDirectory));
        services.AddSingleton<ManifestSigningKey>();
        services.AddSingleton<DownloadTokens>();
        services.AddSingleton<ModelStore>();
        services.AddSingleton<ModelRegistry>();

        services.AddSingleton<CalibrationFrames>();
        services.AddSingleton<ModelJobStore>();
        services.AddSingleton<QuantizeJobs>();
        services.AddSingleton<QuantizeJobRunner>();
        services.AddSingleton(sp => new JobClaimant(
            string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}:{sp.GetRequiredService<CloudOptions>().Silo.SiloPort}")));
        services.AddHostedService<QuantizeJobService>();

        services.AddSingleton<IPublicBaseUrl, SiloPublicBaseUrl>();
        services.AddSingleton<ModelAssignedMessages>();
        services.AddSingleton<AssignmentStore>();
        services.AddSingleton<ModelEventStore>();
        services.AddSingleton<AssignmentPublisher>();
        services.AddHostedService(sp => sp.GetRequiredService<AssignmentPublisher>());
        services.AddSingleton<AssignmentService>();
        services.AddSingleton<ModelAckStorage>();
        return builder;
    }
}

/// <summary>
/// The base of the download URLs put in assignments: Cloud:Models:PublicBaseUrl, else the address this silo listens on
/// (fine on loopback and on a LAN; behind a proxy or on 0.0.0.0, set Cloud:Models:PublicBaseUrl).
/// </summary>
public sealed class SiloPublicBaseUrl(ModelRegistryOptions options, IServer server) : IPublicBaseUrl
{
    public Uri BaseUrl
    {
        get
        {
            var configured = options.PublicBaseUrl is { Length: > 0 } url ? url : null;
            var address = configured ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                ?? throw Unusable("the silo has no HTTP address yet");
            if (configured is null && (address.Contains("://0.0.0.0", StringComparison.Ordinal) || address.Contains("://[::]", StringComparison.Ordinal)
                || address.Contains("://+", StringComparison.Ordinal) || address.Contains("://*", StringComparison.Ordinal)))
            {
                throw Unusable($"the silo listens on {address}, which is no address a device can use");
            }

            return new Uri(address.EndsWith('/') ? address : address + "/");
        }
    }

    private static ModelRegistryException Unusable(string why) => new(
        RegistryErrorKind.Conflict, $"Download URLs cannot be made: {why}. Set Cloud:Models:PublicBaseUrl to the URL devices reach this cloud at.");
}
