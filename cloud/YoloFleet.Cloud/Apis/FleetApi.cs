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
        // Open to load balancers: up or down, nothing else.
        app.MapGet("/healthz", (MqttIngestService ingest) =>
            ingest.IsSubscribed ? Results.Ok(new { status = "ok" }) : Results.Json(new { status = "mqtt-disconnected" }, statusCode: 503))
            .AllowAnonymous().ExcludeFromDescription();

        var api = app.MapGroup("/api");
        api.MapGet("/ingest/stats", (IngestCounters counters, DeliveryCounters delivery, CommitConfirmations confirmations) =>
            TypedResults.Ok(counters.Snapshot() with { Delivery = delivery.Snapshot(confirmations.Enabled) }))
            .WithName("GetIngestStats").WithSummary("Messages received by kind, frames and detections committed, duplicates, drops by reason, delivery.");
        api.MapGet("/security/stats", (SecurityCounters counters) => TypedResults.Ok(counters.Snapshot()))
            .WithName("GetSecurityStats").WithSummary("Broker connections and API requests accepted, and every refusal by reason.");
        api.MapGet("/devices/{deviceId}", GetDeviceAsync)
            .WithName("GetDevice").WithSummary("A device grain's state: last seen, highest sequence, frames, duplicates, gaps, models, health.");
        api.MapGet("/cluster", GetClusterAsync)
            .WithName("GetCluster").WithSummary("The answering silo and every active silo in the cluster's membership.");
        return app;
    }

    /// <summary>The 400 for a device id in a path that cannot be one (docs/protocol.md).</summary>
    internal static ProblemHttpResult InvalidDeviceId(string deviceId) => TypedResults.Problem(
        $"'{deviceId}' is not a valid device id (letters, digits, '-', '_'; at most 64).", statusCode: StatusCodes.Status400BadRequest);

    /// <summary>The silos the cluster's membership holds as active, and which of them answered.</summary>
    private static async Task<Ok<ClusterView>> GetClusterAsync(IGrainFactory grains, ILocalSiloDetails local)
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        return TypedResults.Ok(new ClusterView(
            local.Name, [.. hosts.Select(h => new ClusterSilo(h.SiloName, h.SiloAddress.ToString(), h.Status.ToString())).OrderBy(s => s.Name, StringComparer.Ordinal)]));
    }

    private static async Task<Results<Ok<DeviceSnapshot>, ProblemHttpResult>> GetDeviceAsync(string deviceId, IGrainFactory grains)
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            return InvalidDeviceId(deviceId);
        }

        return TypedResults.Ok(await grains.GetGrain<IDeviceGrain>(deviceId).GetSnapshotAsync());
    }
}

/// <summary>GET /api/cluster: the answering silo and every active silo in the membership.</summary>
public sealed record ClusterView(string Silo, IReadOnlyList<ClusterSilo> Silos);

public sealed record ClusterSilo(string Name, string Address, string Status);
