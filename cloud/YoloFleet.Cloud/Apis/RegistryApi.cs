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
        api.MapPost("/devices", RegisterAsync).WithName("RegisterDevice")
            .WithSummary("Register a device, or update its display name, status and group (operator).");
        api.MapGet("/devices", ListAsync).WithName("ListDevices")
            .WithSummary("The device registry in id order, a page at a time (limit, cursor).");
        api.MapGet("/verifications/summary", SummaryAsync).WithName("GetVerificationSummary")
            .WithSummary("The FP32 verifier per edge model version: precision, recall, missed classes, calibration.");
        return app;
    }

    private static async Task<Results<Created<RegisteredDevice>, ProblemHttpResult>> RegisterAsync(
        RegisterDeviceRequest request, DeviceDirectory directory, DeviceAdmission admission, IGrainFactory grains, CancellationToken cancellationToken)
    {
        if (!DeviceIds.IsValid(request.DeviceId))
        {
            return Invalid($"'{request.DeviceId}' is not a valid device id (see docs/protocol.md: letters, digits, '-', '_', at most 64).");
        }

        var status = request.Status ?? DeviceStatus.Active;
        if (!DeviceStatus.IsValid(status))
        {
            return Invalid($"status '{status}' is not one of: {DeviceStatus.Active}, {DeviceStatus.Disabled}.");
        }

        var displayName = request.DisplayName ?? "";
        if (displayName.Length > 128)
        {
            return Invalid("displayName is longer than 128 characters.");
        }

        if (request.Group is { Length: > 0 } group && !DeviceDirectory.IsValidGroup(group))
        {
            return Invalid($"group '{group}' is not a valid group name (letters, digits, '-', '_', '.'; at most 64).");
        }

        var device = await directory.RegisterAsync(request.DeviceId, displayName, status, cancellationToken, request.Group);

        // The grain holds the cluster's cached answer; this silo's own cache is dropped too. Other silos re-ask within seconds.
        await grains.GetGrain<IDeviceGrain>(request.DeviceId).RefreshRegistrationAsync();
        admission.Forget(request.DeviceId);
        return TypedResults.Created($"/api/devices/{request.DeviceId}", device);
    }

    private static async Task<Results<Ok<Page<RegisteredDevice>>, ProblemHttpResult>> ListAsync(
        int? limit, string? cursor, DeviceDirectory directory, CancellationToken cancellationToken)
    {
        if (!Paging.TryLimit(limit, out var take, out var problem) || !Paging.TryCursor(cursor, DevicesCursor, 1, out var after, out problem))
        {
            return problem!;
        }

        var rows = await directory.ListPageAsync(after?[0], take + 1, cancellationToken);
        return TypedResults.Ok(Paging.Of(rows, take, DevicesCursor, d => [d.DeviceId]));
    }

    private const string DevicesCursor = "devices";

    private static ProblemHttpResult Invalid(string detail) => TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest);

    private static async Task<Ok<VerificationReport>> SummaryAsync(
        VerificationWriter verifications, VerificationCounters counters, VerificationQueue queue, CancellationToken cancellationToken) =>
        TypedResults.Ok(new VerificationReport(await verifications.SummarizeAsync(cancellationToken: cancellationToken), counters.Snapshot(), queue.Depth));
}
