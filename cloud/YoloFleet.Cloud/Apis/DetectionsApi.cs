using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Data.Detections;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

/// <summary>A device's stored detections, newest first, a page at a time (docs/storage.md has the table).</summary>
public static class DetectionsApi
{
    private const string Cursor = "detections";

    public static IEndpointRouteBuilder MapDetectionsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api").MapGet("/devices/{deviceId}/detections", ListAsync).WithName("ListDetections")
            .WithSummary("The device's stored boxes captured in [from, to), newest first (by its sequence), a page at a time (limit, cursor).");
        return app;
    }

    private static async Task<Results<Ok<Page<StoredDetection>>, ProblemHttpResult>> ListAsync(
        string deviceId, DateTimeOffset? from, DateTimeOffset? to, int? limit, string? cursor, DetectionHistory history, CancellationToken cancellationToken)
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            return FleetApi.InvalidDeviceId(deviceId);
        }

        if (from is { } start && to is { } end && end <= start)
        {
            return TypedResults.Problem($"from ({start:O}) must be before to ({end:O}).", statusCode: StatusCodes.Status400BadRequest);
        }

        if (!Paging.TryLimit(limit, out var take, out var problem) || !Paging.TryCursor(cursor, Cursor, 2, out var key, out problem))
        {
            return problem!;
        }

        (long, short)? before = null;
        if (key is not null)
        {
            if (!Paging.TryLong(key[0], out var sequence) || !short.TryParse(key[1], System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                return Paging.BadCursor(Cursor);
            }

            before = (sequence, index);
        }

        var rows = await history.PageAsync(deviceId, from, to, before, take + 1, cancellationToken);
        return TypedResults.Ok(Paging.Of(rows, take, Cursor, d => [Paging.Text(d.Sequence), Paging.Text(d.Index)]));
    }
}
