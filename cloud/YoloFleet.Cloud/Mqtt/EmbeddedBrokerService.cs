using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Mqtt;

/// <summary>Runs <see cref="EmbeddedBroker"/> for the host's lifetime when Cloud:EmbeddedBroker:Enabled is set.</summary>
/// <remarks>
/// Secure by default: it refuses to start without Cloud:Security:PasswordFile unless Cloud:Security:AllowAnonymous is
/// set, and then enforces the per-device topic ACL on every named client.
/// </remarks>
public sealed class EmbeddedBrokerService(
    CloudOptions options, BrokerSecurityOptions security, SecurityCounters counters, ILogger<EmbeddedBroker> logger) : IHostedService, IAsyncDisposable
{
    public EmbeddedBroker? Broker { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.EmbeddedBroker.Enabled)
        {
            if (security.ProblemForEmbeddedBroker() is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            var access = BrokerAccessPolicy.From(security, counters);
            if (access.AllowAnonymous)
            {
                logger.LogWarning("Embedded MQTT broker admits anonymous clients (Cloud:Security:AllowAnonymous): for loopback demos and tests only");
            }

            Broker = await EmbeddedBroker.StartAsync(
                options.EmbeddedBroker.Port, options.EmbeddedBroker.MaxPendingMessagesPerClient, logger: logger, access: access);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Broker is not null)
        {
            await Broker.DisposeAsync();
            Broker = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
