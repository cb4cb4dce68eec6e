using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;

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
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<EdgeAgentOptions>();

            // Only thresholds set in configuration override the model manifest's.
            var detectorOptions = new DetectorOptions { IntraOpThreads = o.Detection.IntraOpThreads };
            if (o.Detection.ConfidenceThreshold is { } confidence)
            {
                detectorOptions.ConfidenceThreshold = confidence;
            }

            if (o.Detection.NmsIouThreshold is { } iou)
            {
                detectorOptions.NmsIouThreshold = iou;
            }

            return Detector.Open(o.ModelPath, detectorOptions);
        });
        builder.Services.AddSingleton(sp => new SequenceCounter(sp.GetRequiredService<EdgeAgentOptions>().StateDirectory));
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
        builder.Services.AddSingleton<CommitsHandler>();
        builder.Services.AddSingleton<IDownstreamHandler>(sp => sp.GetRequiredService<CommitsHandler>());
        builder.Services.AddSingleton<MqttPublisher>();
        builder.Services.AddSingleton<PipelineLiveness>();
        builder.Services.AddSingleton<AgentPipeline>();
        builder.Services.AddSingleton(_ => SystemdNotifyEnvironment.FromEnvironment());
        builder.Services.AddHostedService<SystemdWatchdog>();

        // Hosted services stop in reverse order: the worker (and its drain) before the publisher.
        builder.Services.AddSingleton<OutboxPublisher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxPublisher>());
        builder.Services.AddSingleton<DeliveryReporter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DeliveryReporter>());
        builder.Services.AddHostedService<TelemetryReporter>();
        builder.Services.AddSingleton<AgentWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AgentWorker>());
        return builder.Build();
    }
}
