using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Data.Scene;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

/// <summary>Scene analytics over the stored object events (docs/scene.md): zone occupancy per hour and line counts.</summary>
public static class SceneApi
{
    private static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    public static IEndpointRouteBuilder MapSceneApi(this IEndpointRouteBuilder app)
    {
        var scene = app.MapGroup("/api/scene");
        scene.MapGet("/zones/hourly", GetZoneHoursAsync);
        scene.MapGet("/lines", GetLineCountsAsync);
        return app;
    }

    private static async Task<Results<Ok<List<ZoneHourCount>>, BadRequest<string>>> GetZoneHoursAsync(
        DateTimeOffset from, DateTimeOffset to, string? deviceId, ObjectEventAnalytics analytics, CancellationToken cancellationToken) =>
        CheckRange(from, to, deviceId) is { } error
            ? TypedResults.BadRequest(error)
            : TypedResults.Ok(await analytics.ZoneHoursAsync(from, to, deviceId, cancellationToken));

    private static async Task<Results<Ok<List<LineCount>>, BadRequest<string>>> GetLineCountsAsync(
        DateTimeOffset from, DateTimeOffset to, string? deviceId, ObjectEventAnalytics analytics, CancellationToken cancellationToken) =>
        CheckRange(from, to, deviceId) is { } error
            ? TypedResults.BadRequest(error)
            : TypedResults.Ok(await analytics.LineCountsAsync(from, to, deviceId, cancellationToken));

    private static string? CheckRange(DateTimeOffset from, DateTimeOffset to, string? deviceId) =>
        to <= from || to - from > MaxRange ? $"from must be before to, at most {MaxRange.TotalDays} days apart"
        : deviceId is not null && !DeviceIds.IsValid(deviceId) ? $"'{deviceId}' is not a valid device id"
        : null;
}
