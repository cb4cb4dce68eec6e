using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Telemetry;

namespace YoloFleet.EdgeAgent;

/// <summary>Builds the agent host; Program.cs, the CLI's demo and the tests share it.</summary>
public static class EdgeAgentHost
{
    public static IHost Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        builder.Services.AddSystemd();
        builder.Services.AddOptions<EdgeAgentOptions>()
            .Bind(builder.Configuration.GetSection(EdgeAgentOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EdgeAgentOptions>, YoloFleet.EdgeAgent.Identity.BrokerIdentityValidator>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<EdgeAgentOptions>>().Value);
        builder.Services.AddSingleton(TimeProvider.System);
        AddModels(builder.Services);
        builder.Services.AddSingleton(sp => new SequenceCounter(
            sp.GetRequiredService<EdgeAgentOptions>().StateDirectory, above: sp.GetRequiredService<OutboxStore>().HighestSequence));
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<EdgeAgentOptions>();
            return new OutboxStore(Path.Combine(o.StateDirectory, "outbox"), o.Outbox, sp.GetRequiredService<TimeProvider>(), o.Delivery);
        });
        builder.Services.AddSingleton<UpstreamWriter>();
        builder.Services.AddSingleton(sp => new HardFramePolicy(
            sp.GetRequiredService<EdgeAgentOptions>().HardFrames, sp.GetRequiredService<TimeProvider>(), Random.Shared));
        builder.Services.AddSingleton<StageTimings>();
        builder.Services.AddSingleton(sp => new DeviceHealth(
            sp.GetRequiredService<EdgeAgentOptions>().Telemetry.Paths, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(sp => new ThrottleMonitor(
            sp.GetRequiredService<DeviceHealth>(), sp.GetRequiredService<EdgeAgentOptions>().Telemetry, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<CommitsHandler>();
        builder.Services.AddSingleton<IDownstreamHandler>(sp => sp.GetRequiredService<CommitsHandler>());
        builder.Services.AddSingleton<MqttPublisher>();
        builder.Services.AddSingleton<PipelineLiveness>();
        builder.Services.AddSingleton<YoloFleet.EdgeAgent.Shadow.ShadowRunner>();
        builder.Services.AddSingleton<AgentPipeline>();
        builder.Services.AddSingleton(_ => SystemdNotifyEnvironment.FromEnvironment());
        builder.Services.AddHostedService<SystemdWatchdog>();
        builder.Services.AddHostedService<LivenessFileWriter>();

        // Hosted services stop in reverse order: the worker (and its drain) before the publisher.
        builder.Services.AddSingleton<OutboxPublisher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxPublisher>());
        builder.Services.AddSingleton<DeliveryReporter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DeliveryReporter>());
        builder.Services.AddHostedService<TelemetryReporter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelAssignmentService>());
        builder.Services.AddSingleton<AgentWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AgentWorker>());
        return builder.Build();
    }

    /// <summary>
    /// Model slots and assignments: the model the agent starts on (slot A, else B, else the factory model) and the
    /// service that carries out the cloud's assignments (docs/edge-agent.md).
    /// </summary>
    private static void AddModels(IServiceCollection services)
    {
        services.AddSingleton(sp => TrustedKeyLoader.Load(sp.GetRequiredService<EdgeAgentOptions>().Models.TrustedKeys));
        services.AddSingleton(sp => new ModelSlotStore(sp.GetRequiredService<EdgeAgentOptions>().StateDirectory));
        services.AddSingleton(sp => new ModelHealthCheck(sp.GetRequiredService<EdgeAgentOptions>().Models));
        services.AddSingleton<ActiveModelLoader>();
        services.AddSingleton<YoloFleet.EdgeAgent.Shadow.ShadowCandidate>();
        services.AddSingleton(sp => sp.GetRequiredService<ActiveModelLoader>().Load());
        services.AddSingleton(sp => new ModelDownloader(
            new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30), MaxAutomaticRedirections = 5 })
            {
                // Each read has its own stall timeout (ModelOptions.DownloadStallTimeout); a whole model may take long.
                Timeout = Timeout.InfiniteTimeSpan,
            },
            sp.GetRequiredService<EdgeAgentOptions>().Models,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ModelDownloader>>()));
        services.AddSingleton<AssignmentReporter>();
        services.AddSingleton<ModelAssignmentService>();
        services.AddSingleton<IDownstreamHandler, ModelAssignmentHandler>();
    }
}
