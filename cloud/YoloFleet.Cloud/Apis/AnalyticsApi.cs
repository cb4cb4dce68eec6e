using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using YoloFleet.Cloud.Data.Analytics;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Apis;

/// <summary>
/// The operators' analytics (docs/analytics.md): detections, latency, agreement with FP32, hard-frame rate, fleet health
/// and top devices, each a JSON array of rows. from and to are ISO-8601 (default: the last 24 hours); a bad parameter is a
/// 400 validation problem that names it.
/// </summary>
public static class AnalyticsApi
{
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(24);

    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    /// <summary>Minute buckets over at most two days (2,880 buckets per device and class).</summary>
    public static readonly TimeSpan MaxMinuteRange = TimeSpan.FromDays(2);

    public const int DefaultTopLimit = 10;

    public const int MaxTopLimit = 100;

    /// <summary>Set to "true" on an answer cut at the row cap (<see cref="FleetAnalytics.MaxRows"/>, or Cloud:Analytics:MaxRows).</summary>
    public const string TruncatedHeader = "X-Result-Truncated";

    public static IEndpointRouteBuilder MapAnalyticsApi(this IEndpointRouteBuilder app)
    {
        var analytics = app.MapGroup("/api/analytics");
        analytics.MapGet("/detections", GetDetectionsAsync).WithName("GetDetectionCounts")
            .WithSummary("Detections per class per device per time bucket (bucket, from, to, device, class).");
        analytics.MapGet("/latency", GetLatencyAsync).WithName("GetLatencyPercentiles")
            .WithSummary("Inference latency p50/p95/p99 per device or per model version (by, from, to).");
        analytics.MapGet("/agreement", GetAgreementAsync).WithName("GetAgreement")
            .WithSummary("Edge precision and recall against FP32 on verified hard frames, per model version per time bucket.");
        analytics.MapGet("/hard-frames", GetHardFramesAsync).WithName("GetHardFrameRate")
            .WithSummary("Frames, hard frames and their rate per device per time bucket.");
        analytics.MapGet("/fleet-health", GetFleetHealthAsync).WithName("GetFleetHealth")
            .WithSummary("Per device: online, last seen, throttling, outbox backlog, model.");
        analytics.MapGet("/top-devices", GetTopDevicesAsync).WithName("GetTopDevices")
            .WithSummary("The devices with the highest detections, latency p95, hard-frame rate, disagreement or backlog.");
        return app;
    }

    private static async Task<Results<Ok<List<DetectionCountRow>>, ValidationProblem>> GetDetectionsAsync(
        string? bucket, string? from, string? to, string? device, [FromQuery(Name = "class")] string? classText,
        [AsParameters] AnalyticsContext context, CancellationToken cancellationToken)
    {
        var query = new AnalyticsQuery(context.Clock);
        var (start, end, unit) = query.Bucketed(from, to, bucket);
        if (device is not null && !DeviceIds.IsValid(device))
        {
            query.Error("device", $"'{device}' is not a valid device id.");
        }

        int? classId = null;
        if (classText is not null && (classId = CocoClassNames.Parse(classText)) is null)
        {
            query.Error("class", $"'{classText}' is neither a class id (0-{short.MaxValue}) nor a COCO class name such as 'person'.");
        }

        return query.Problem() is { } problem
            ? problem
            : context.Rows(await context.Analytics.DetectionsAsync(start, end, unit, device, classId, cancellationToken));
    }

    private static async Task<Results<Ok<List<LatencyRow>>, ValidationProblem>> GetLatencyAsync(
        string? by, string? from, string? to, [AsParameters] AnalyticsContext context, CancellationToken cancellationToken)
    {
        var query = new AnalyticsQuery(context.Clock);
        var (start, end) = query.Range(from, to);
        var grouping = query.Choice("by", by, LatencyGrouping.Device);
        return query.Problem() is { } problem
            ? problem
            : context.Rows(await context.Analytics.LatencyAsync(start, end, grouping, cancellationToken));
    }

    private static async Task<Results<Ok<List<AgreementRow>>, ValidationProblem>> GetAgreementAsync(
        string? bucket, string? from, string? to, [AsParameters] AnalyticsContext context, CancellationToken cancellationToken)
    {
        var query = new AnalyticsQuery(context.Clock);
        var (start, end, unit) = query.Bucketed(from, to, bucket);
        return query.Problem() is { } problem
            ? problem
            : context.Rows(await context.Analytics.AgreementAsync(start, end, unit, cancellationToken));
    }

    private static async Task<Results<Ok<List<HardFrameRateRow>>, ValidationProblem>> GetHardFramesAsync(
        string? bucket, string? from, string? to, [AsParameters] AnalyticsContext context, CancellationToken cancellationToken)
    {
        var query = new AnalyticsQuery(context.Clock);
        var (start, end, unit) = query.Bucketed(from, to, bucket);
        return query.Problem() is { } problem
            ? problem
            : context.Rows(await context.Analytics.HardFramesAsync(start, end, unit, cancellationToken));
    }

    private static async Task<Ok<List<FleetHealthRow>>> GetFleetHealthAsync([AsParameters] AnalyticsContext context, CancellationToken cancellationToken) =>
        context.Rows(await context.Analytics.FleetHealthAsync(context.Clock.GetUtcNow(), cancellationToken));

    private static async Task<Results<Ok<List<TopDeviceRow>>, ValidationProblem>> GetTopDevicesAsync(
        string? by, string? limit, string? from, string? to, [AsParameters] AnalyticsContext context, CancellationToken cancellationToken)
    {
        var query = new AnalyticsQuery(context.Clock);
        var (start, end) = query.Range(from, to);
        var metric = query.Choice("by", by, TopDevicesMetric.Detections);
        var top = query.Count("limit", limit, DefaultTopLimit, MaxTopLimit);
        return query.Problem() is { } problem
            ? problem
            : context.Rows(await context.Analytics.TopDevicesAsync(metric, top, start, end, cancellationToken));
    }

    /// <summary>What every analytics request needs: the queries (with the configured row cap), the clock, and the response for the truncation header.</summary>
    internal sealed record AnalyticsContext(NpgsqlDataSource DataSource, TimeProvider Clock, IConfiguration Configuration, HttpContext Http)
    {
        public FleetAnalytics Analytics => new(DataSource, maxRows: Configuration.GetValue("Cloud:Analytics:MaxRows", FleetAnalytics.MaxRows));

        /// <summary>200 with the rows; an answer cut at the cap says so in <see cref="TruncatedHeader"/>.</summary>
        public Ok<List<T>> Rows<T>(AnalyticsResult<T> rows)
        {
            if (rows.Truncated)
            {
                Http.Response.Headers[TruncatedHeader] = "true";
            }

            return TypedResults.Ok<List<T>>(rows);
        }
    }

    /// <summary>Parses one request's query parameters, collecting every problem under the parameter's name.</summary>
    private sealed class AnalyticsQuery(TimeProvider clock)
    {
        private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

        public void Error(string parameter, string message) => _errors[parameter] = [message];

        public ValidationProblem? Problem() => _errors.Count == 0
            ? null
            : TypedResults.ValidationProblem(_errors, detail: string.Join(" ", _errors.Select(e => $"{e.Key}: {e.Value[0]}")), title: "Invalid analytics query");

        /// <summary>[from, to): to defaults to now, from to <see cref="DefaultRange"/> before to; at most <see cref="MaxRange"/>.</summary>
        public (DateTimeOffset From, DateTimeOffset To) Range(string? fromText, string? toText)
        {
            var to = Time("to", toText) ?? clock.GetUtcNow();
            var from = Time("from", fromText) ?? to - DefaultRange;
            if (_errors.Count == 0 && from >= to)
            {
                Error("from", $"from ({from:O}) must be before to ({to:O}).");
            }
            else if (_errors.Count == 0 && to - from > MaxRange)
            {
                Error("from", $"The range from {from:O} to {to:O} is longer than {MaxRange.TotalDays:0} days; narrow from or to.");
            }

            return (from, to);
        }

        /// <summary>A range and a bucket (default hour); minute buckets take at most <see cref="MaxMinuteRange"/>.</summary>
        public (DateTimeOffset From, DateTimeOffset To, TimeBucket Bucket) Bucketed(string? fromText, string? toText, string? bucketText)
        {
            var (from, to) = Range(fromText, toText);
            var bucket = Choice("bucket", bucketText, TimeBucket.Hour);
            if (bucket == TimeBucket.Minute && to - from > MaxMinuteRange && !_errors.ContainsKey("from"))
            {
                Error("bucket", $"Minute buckets cover at most {MaxMinuteRange.TotalHours:0} hours; use bucket=hour or narrow from and to.");
            }

            return (from, to, bucket);
        }

        public TEnum Choice<TEnum>(string parameter, string? text, TEnum fallback)
            where TEnum : struct, Enum
        {
            if (text is null)
            {
                return fallback;
            }

            // Names only: Enum.TryParse would take "1" or "hour,day" too.
            var match = Enum.GetValues<TEnum>().Where(v => string.Equals(v.ToString(), text, StringComparison.OrdinalIgnoreCase)).ToList();
            if (match.Count == 1)
            {
                return match[0];
            }

            var allowed = string.Join("|", Enum.GetValues<TEnum>().Select(v => char.ToLowerInvariant(v.ToString()[0]) + v.ToString()[1..]));
            Error(parameter, $"'{text}' is not one of {allowed}.");
            return fallback;
        }

        public int Count(string parameter, string? text, int fallback, int max)
        {
            if (text is null)
            {
                return fallback;
            }

            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 && value <= max)
            {
                return value;
            }

            Error(parameter, $"'{text}' is not a whole number from 1 to {max}.");
            return fallback;
        }

        private DateTimeOffset? Time(string parameter, string? text)
        {
            if (text is null)
            {
                return null;
            }

            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value))
            {
                return value;
            }

            Error(parameter, $"'{text}' is not an ISO-8601 time such as 2026-12-07T15:00:00Z.");
            return null;
        }
    }
}
