using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Delivery;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

public static class FleetApi
{
    public static IEndpointRouteBuilder MapFleetApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", (MqttIngestService ingest) =>
            ingest.IsSubscribed ? Results.Ok(new { status = "ok" }) : Results.Json(new { status = "mqtt-disconnected" }, statusCode: 503));

        var api = app.MapGroup("/api");
        api.MapGet("/ingest/stats", (IngestCounters counters, DeliveryCounters delivery, CommitConfirmations confirmations) =>
            TypedResults.Ok(counters.Snapshot() with { Delivery = delivery.Snapshot(confirmations.Enabled) }));
        api.MapGet("/security/stats", (SecurityCounters counters) => TypedResults.Ok(counters.Snapshot()));
        api.MapGet("/devices/{deviceId}", GetDeviceAsync);
        return app;
    }

    private static async Task<Results<Ok<DeviceSnapshot>, BadRequest<string>>> GetDeviceAsync(string deviceId, IGrainFactory grains)
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            return TypedResults.BadRequest($"'{deviceId}' is not a valid device id");
        }

        return TypedResults.Ok(await grains.GetGrain<IDeviceGrain>(deviceId).GetSnapshotAsync());
    }
}
