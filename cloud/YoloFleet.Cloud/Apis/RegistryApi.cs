using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Data.Verification;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Verification;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

/// <summary>POST /api/devices body. <paramref name="Group"/>: null keeps the device's group, "" removes it.</summary>
public sealed record RegisterDeviceRequest(string DeviceId, string? DisplayName, string? Status, string? Group = null);

/// <summary>GET /api/verifications/summary: per model version, and what the verifier did.</summary>
public sealed record VerificationReport(IReadOnlyList<VerificationSummary> Models, VerificationStats Verifier, int QueueDepth);

/// <summary>The device registry and the FP32 verifier's results, for operators.</summary>
public static class RegistryApi
{
    public static IEndpointRouteBuilder MapRegistryApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/devices", RegisterAsync);
        api.MapGet("/devices", ListAsync);
        api.MapGet("/verifications/summary", SummaryAsync);
        return app;
    }

    private static async Task<Results<Created<RegisteredDevice>, BadRequest<string>>> RegisterAsync(
        RegisterDeviceRequest request, DeviceDirectory directory, DeviceAdmission admission, IGrainFactory grains, CancellationToken cancellationToken)
    {
        if (!DeviceIds.IsValid(request.DeviceId))
        {
            return TypedResults.BadRequest($"'{request.DeviceId}' is not a valid device id (see docs/protocol.md: letters, digits, '-', '_', at most 64).");
        }

        var status = request.Status ?? DeviceStatus.Active;
        if (!DeviceStatus.IsValid(status))
        {
            return TypedResults.BadRequest($"status '{status}' is not one of: {DeviceStatus.Active}, {DeviceStatus.Disabled}");
        }

        var displayName = request.DisplayName ?? "";
        if (displayName.Length > 128)
        {
            return TypedResults.BadRequest("displayName is longer than 128 characters");
        }

        if (request.Group is { Length: > 0 } group && !DeviceDirectory.IsValidGroup(group))
        {
            return TypedResults.BadRequest($"group '{group}' is not a valid group name (letters, digits, '-', '_', '.'; at most 64)");
        }

        var device = await directory.RegisterAsync(request.DeviceId, displayName, status, cancellationToken, request.Group);

        // The grain holds the cluster's cached answer; this silo's own cache is dropped too. Other silos re-ask within seconds.
        await grains.GetGrain<IDeviceGrain>(request.DeviceId).RefreshRegistrationAsync();
        admission.Forget(request.DeviceId);
        return TypedResults.Created($"/api/devices/{request.DeviceId}", device);
    }

    private static async Task<Ok<IReadOnlyList<RegisteredDevice>>> ListAsync(DeviceDirectory directory, CancellationToken cancellationToken) =>
        TypedResults.Ok(await directory.ListAsync(cancellationToken: cancellationToken));

    private static async Task<Ok<VerificationReport>> SummaryAsync(
        VerificationWriter verifications, VerificationCounters counters, VerificationQueue queue, CancellationToken cancellationToken) =>
        TypedResults.Ok(new VerificationReport(await verifications.SummarizeAsync(cancellationToken: cancellationToken), counters.Snapshot(), queue.Depth));
}
