using YoloFleet.Cloud.Data.Delivery;
using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Delivery;

/// <summary>Wiring for end-to-end delivery: confirmations, delivery reports, gap requests (docs/protocol.md).</summary>
public static class DeliveryServices
{
    /// <summary>Registers the services; call after the downlink, so the confirmations stop before it (hosted services stop in reverse).</summary>
    public static IServiceCollection AddFleetDelivery(this IServiceCollection services)
    {
        services.AddSingleton(sp => sp.GetRequiredService<CloudOptions>().Delivery);
        services.AddSingleton(sp => sp.GetRequiredService<DeliveryOptions>().GapRequests);
        services.AddSingleton<GapRequestCounters>();
        services.AddSingleton<GapRequester>();
        services.AddSingleton<DeliveryStore>();
        services.AddSingleton<DeliveryCounters>();
        services.AddSingleton<CommitConfirmations>();
        services.AddSingleton<DeliveryReportStorage>();
        services.AddSingleton<YoloFleet.Cloud.Data.Shadow.ShadowWindowStore>();
        services.AddSingleton<YoloFleet.Cloud.Shadow.ShadowWindowStorage>();
        services.AddSingleton<CommitConfirmationService>();
        services.AddHostedService(sp => sp.GetRequiredService<CommitConfirmationService>());
        return services;
    }
}
