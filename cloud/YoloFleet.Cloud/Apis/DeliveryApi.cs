using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Delivery;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

/// <summary>A device's end-to-end delivery: the drops it reported (from PostgreSQL) and its open gaps (from its grain).</summary>
public sealed record DeviceDeliveryReport(
    string DeviceId,
    IReadOnlyList<DropTotal> DropsByReason,
    long DroppedMessages,
    long HighestSequence,
    long MissingSequences,
    IReadOnlyList<SequenceGap> OpenGaps,
    long AccountedByReports,
    long GapRequests,
    DateTimeOffset? LastGapRequestAt,
    DateTimeOffset? NextGapRequestAt);

public static class DeliveryApi
{
    public static IEndpointRouteBuilder MapDeliveryApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api").MapGet("/devices/{deviceId}/delivery", GetDeliveryAsync)
            .WithName("GetDeviceDelivery").WithSummary("The device's reported drops by reason, its open gaps and the grain's requests for them.");
        return app;
    }

    private static async Task<Results<Ok<DeviceDeliveryReport>, ProblemHttpResult>> GetDeliveryAsync(
        string deviceId, IGrainFactory grains, DeliveryStore store, CancellationToken cancellationToken)
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            return FleetApi.InvalidDeviceId(deviceId);
        }

        var drops = await store.DropsByReasonAsync(deviceId, cancellationToken);
        var grain = await grains.GetGrain<IDeviceGrain>(deviceId).GetDeliveryAsync();
        return TypedResults.Ok(new DeviceDeliveryReport(
            deviceId,
            drops,
            drops.Sum(d => d.Messages),
            grain.HighestSequence,
            grain.MissingSequences,
            grain.OpenGaps,
            grain.AccountedByReports,
            grain.GapRequests,
            grain.LastGapRequestAt,
            grain.NextGapRequestAt));
    }
}
