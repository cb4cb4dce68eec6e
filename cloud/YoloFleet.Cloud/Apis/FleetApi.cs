using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Runtime;
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
        api.MapGet("/cluster", GetClusterAsync);
        return app;
    }

    /// <summary>The silos the cluster's membership holds as active, and which of them answered.</summary>
    private static async Task<Ok<ClusterView>> GetClusterAsync(IGrainFactory grains, ILocalSiloDetails local)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        return TypedResults.Ok(new ClusterView(
            local.Name, [.. hosts.Select(h => new ClusterSilo(h.SiloName, h.SiloAddress.ToString(), h.Status.ToString())).OrderBy(s => s.Name, StringComparer.Ordinal)]));
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

/// <summary>GET /api/cluster: the answering silo and every active silo in the membership.</summary>
public sealed record ClusterView(string Silo, IReadOnlyList<ClusterSilo> Silos);

public sealed record ClusterSilo(string Name, string Address, string Status);
