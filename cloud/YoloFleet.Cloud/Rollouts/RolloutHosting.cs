using Microsoft.Extensions.Options;
using YoloFleet.Cloud.Rollout;
using YoloFleet.Cloud.Rollout.Storage;

namespace YoloFleet.Cloud.Rollouts;

/// <summary>Wires staged rollouts into the silo (docs/rollout.md): options, the store and metrics the grain uses, and the keeper.</summary>
public static class RolloutHosting
{
    public static WebApplicationBuilder AddRollouts(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RolloutOptions>()
            .Bind(builder.Configuration.GetSection(RolloutOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<RolloutOptions>>().Value);
        services.AddSingleton<RolloutStore>();
        services.AddSingleton<RolloutMetrics>();
        services.AddHostedService<RolloutKeeper>();
        return builder;
    }
}

/// <summary>
/// Pokes every running rollout's grain now and then. A grain's timer lives only as long as its activation: after a
/// silo restart nothing would wake a running rollout until an operator asked about it, so the keeper does, on every
/// silo (a poke is one cheap grain call; the grain is single-threaded and evaluates from its persisted state).
/// </summary>
public sealed partial class RolloutKeeper(RolloutStore store, IGrainFactory grains, RolloutOptions options, ILogger<RolloutKeeper> logger) : BackgroundService
{
    private const int MaxPerRound = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.KeeperInterval);
        do
        {
            try
            {
                foreach (var id in await store.RunningIdsAsync(MaxPerRound, stoppingToken))
                {
                    await grains.GetGrain<Abstractions.IRolloutGrain>(id).EvaluateAsync();
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogPokeFailed(ex);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Poking the running rollouts failed; trying again at the next interval")]
    private partial void LogPokeFailed(Exception ex);
}
