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
        scene.MapGet("/zones/hourly", GetZoneHoursAsync)
            .WithName("GetZoneHours").WithSummary("Unique objects per class per zone per hour (of entry), with mean dwell.");
        scene.MapGet("/lines", GetLineCountsAsync)
            .WithName("GetLineCounts").WithSummary("Line crossings per line, direction and class.");
        return app;
    }

    private static async Task<Results<Ok<List<ZoneHourCount>>, ProblemHttpResult>> GetZoneHoursAsync(
        DateTimeOffset from, DateTimeOffset to, string? deviceId, ObjectEventAnalytics analytics, CancellationToken cancellationToken) =>
        CheckRange(from, to, deviceId) is { } error
            ? TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest)
            : TypedResults.Ok(await analytics.ZoneHoursAsync(from, to, deviceId, cancellationToken));

    private static async Task<Results<Ok<List<LineCount>>, ProblemHttpResult>> GetLineCountsAsync(
        DateTimeOffset from, DateTimeOffset to, string? deviceId, ObjectEventAnalytics analytics, CancellationToken cancellationToken) =>
        CheckRange(from, to, deviceId) is { } error
            ? TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest)
            : TypedResults.Ok(await analytics.LineCountsAsync(from, to, deviceId, cancellationToken));

    private static string? CheckRange(DateTimeOffset from, DateTimeOffset to, string? deviceId) =>
        to <= from || to - from > MaxRange ? $"from must be before to, at most {MaxRange.TotalDays} days apart."
        : deviceId is not null && !DeviceIds.IsValid(deviceId) ? $"'{deviceId}' is not a valid device id."
        : null;
}
