using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace YoloFleet.Cloud.Mqtt;

/// <summary>Runs <see cref="EmbeddedBroker"/> for the host's lifetime when Cloud:EmbeddedBroker:Enabled is set.</summary>
public sealed class EmbeddedBrokerService(CloudOptions options, ILogger<EmbeddedBroker> logger) : IHostedService, IAsyncDisposable
{
    public EmbeddedBroker? Broker { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.EmbeddedBroker.Enabled)
        {
            Broker = await EmbeddedBroker.StartAsync(options.EmbeddedBroker.Port, options.EmbeddedBroker.MaxPendingMessagesPerClient, logger: logger);
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
