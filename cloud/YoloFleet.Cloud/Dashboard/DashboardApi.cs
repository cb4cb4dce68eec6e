using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using YoloFleet.Cloud.Data.Dashboard;
using YoloFleet.Contracts;
using YoloFleet.Inference;

namespace YoloFleet.Cloud.Dashboard;

/// <summary>GET /api/hard-frames/{device}/{sequence}: the frame, the edge's boxes and the FP32 model's on it.</summary>
/// <param name="Reference">The FP32 model's boxes; null when the silo has no verifier model (Cloud:Verifier:ModelPath).</param>
/// <param name="Shadow">A candidate's boxes when one ran the frame in shadow.</param>
public sealed record HardFrameView(
    HardFrameSummary Frame, JsonElement Edge, IReadOnlyList<BoxView>? Reference, string? ReferenceModel, JsonElement? Shadow, string ShadowModel,
    IReadOnlyList<string> ClassNames);

/// <summary>A box in the same shape the edge's boxes are stored in (c: class, s: score, pixel corners).</summary>
public sealed record BoxView(int C, float S, float X1, float Y1, float X2, float Y2);

/// <summary>GET /api/dashboard/stats: how the dashboard's endpoints are used.</summary>
public sealed record DashboardStats(int Listeners, long FeedTicks, long StreamsOpened, long BadRequests);

internal static class DashboardJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

/// <summary>Counts the dashboard's streams and refused requests.</summary>
public sealed class DashboardCounters
{
    private long _streamsOpened;
    private long _badRequests;

    public long StreamsOpened => Interlocked.Read(ref _streamsOpened);

    public long BadRequests => Interlocked.Read(ref _badRequests);

    public void StreamOpened() => Interlocked.Increment(ref _streamsOpened);

    public void BadRequest() => Interlocked.Increment(ref _badRequests);
}

/// <summary>
/// The operators' web dashboard (docs/dashboard.md): its static page under /dashboard (embedded in this assembly, open;
/// it holds no data), the live feed GET /api/stream (server-sent events, API key required like all of /api), the
/// hard-frame gallery's endpoints and a device's recent telemetry.
/// </summary>
public static class DashboardApi
{
    public const string Path = "/dashboard";

    private const int MaxHardFrames = 200;
    private const int MaxTelemetryPoints = 600;
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static WebApplicationBuilder AddDashboard(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DashboardQueries>();
        builder.Services.AddSingleton<DashboardCounters>();
        builder.Services.AddSingleton<DashboardSite>();
        builder.Services.AddSingleton<ReferenceBoxes>(sp => new(sp.GetRequiredService<CloudOptions>().Verifier));
        builder.Services.AddSingleton<FleetFeed>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FleetFeed>());
        return builder;
    }

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        // One route for the folder and its files; "/dashboard" (no slash) is sent to "/dashboard/" so relative URLs resolve.
        app.MapGet(Path + "/{**file}", (string? file, HttpContext context, DashboardSite site) =>
            string.IsNullOrEmpty(file) && context.Request.Path.Value?.EndsWith('/') != true ? Results.Redirect(Path + "/") : site.Serve(file, context))
            .AllowAnonymous().ExcludeFromDescription();

        var api = app.MapGroup("/api");
        api.MapGet("/stream", StreamAsync).WithName("StreamFleet")
            .WithSummary("The dashboard's live feed (text/event-stream): a snapshot of every device and the rollouts, then deltas at most once a second.");
        api.MapGet("/dashboard/stats", (FleetFeed feed, DashboardCounters counters) =>
            TypedResults.Ok(new DashboardStats(feed.ListenerCount, feed.Ticks, counters.StreamsOpened, counters.BadRequests)))
            .WithName("GetDashboardStats").WithSummary("The live feed's listeners and ticks, streams opened and dashboard requests refused.");
        api.MapGet("/dashboard/devices/{deviceId}/telemetry", TelemetryAsync).WithName("GetDeviceTelemetry")
            .WithSummary("The device's newest telemetry reports (limit, default 120), oldest first: frames/s, CPU, backlog, stage latencies.");
        api.MapGet("/hard-frames", ListHardFramesAsync).WithName("ListHardFrames")
            .WithSummary("The newest stored hard frames (of one device, before a time), each with the FP32 verifier's verdict on the edge's boxes.");
        api.MapGet("/hard-frames/{deviceId}/{sequence:long}", HardFrameAsync).WithName("GetHardFrame")
            .WithSummary("A hard frame's edge boxes, the FP32 model's boxes on it (recomputed by the verifier's model) and a shadow candidate's.");
        api.MapGet("/hard-frames/{deviceId}/{sequence:long}/jpeg", JpegAsync).WithName("GetHardFrameJpeg")
            .WithSummary("A hard frame's JPEG as the device sent it.");
        return app;
    }

    /// <summary>
    /// The live feed: "snapshot" first, then a "delta" whenever something changed (at most once a second), and a comment
    /// line every 15 s so proxies keep the connection open. The browser reads it with fetch, so the bearer header goes along.
    /// </summary>
    private static async Task StreamAsync(HttpContext context, FleetFeed feed, DashboardCounters counters, CancellationToken cancellationToken)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        counters.StreamOpened();
        using var listener = feed.Subscribe();
        await context.Response.WriteAsync(": yolofleet fleet feed\nretry: 2000\n\n", cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                bool ready;
                try
                {
                    ready = await listener.Events.WaitToReadAsync(cancellationToken).AsTask().WaitAsync(KeepAlive, cancellationToken);
                }
                catch (TimeoutException)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", cancellationToken);
                    await context.Response.Body.FlushAsync(cancellationToken);
                    continue;
                }

                if (!ready)
                {
                    return;
                }

                while (listener.Events.TryRead(out var text))
                {
                    await context.Response.WriteAsync(text, cancellationToken);
                }

                await context.Response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The browser went away.
        }
    }

    private static async Task<IResult> TelemetryAsync(string deviceId, int? limit, DashboardQueries queries, DashboardCounters counters, CancellationToken cancellationToken)
    {
        if (CheckDevice(deviceId, counters) is { } bad)
        {
            return bad;
        }

        if (limit is < 1 or > MaxTelemetryPoints)
        {
            return BadRequest(counters, $"limit must be between 1 and {MaxTelemetryPoints}");
        }

        return TypedResults.Ok(await queries.RecentTelemetryAsync(deviceId, limit ?? 120, cancellationToken));
    }

    private static async Task<IResult> ListHardFramesAsync(
        string? device, DateTimeOffset? before, int? limit, DashboardQueries queries, DashboardCounters counters, CancellationToken cancellationToken)
    {
        if (device is not null && CheckDevice(device, counters) is { } bad)
        {
            return bad;
        }

        if (limit is < 1 or > MaxHardFrames)
        {
            return BadRequest(counters, $"limit must be between 1 and {MaxHardFrames}");
        }

        return TypedResults.Ok(await queries.ListHardFramesAsync(device, before, limit ?? 24, cancellationToken));
    }

    private static async Task<IResult> HardFrameAsync(
        string deviceId, long sequence, DashboardQueries queries, ReferenceBoxes reference, DashboardCounters counters, CancellationToken cancellationToken)
    {
        if (CheckDevice(deviceId, counters) is { } bad)
        {
            return bad;
        }

        var frame = await queries.FindHardFrameAsync(deviceId, sequence, cancellationToken);
        if (frame is null)
        {
            return NotFound(deviceId, sequence);
        }

        Detection[]? boxes = null;
        if (reference.Enabled && await queries.FindHardFrameJpegAsync(deviceId, sequence, cancellationToken) is { } jpeg)
        {
            boxes = await reference.DetectAsync(deviceId, sequence, jpeg, cancellationToken);
        }

        return TypedResults.Ok(new HardFrameView(
            frame.Frame,
            Parse(frame.EdgeDetectionsJson),
            boxes?.Select(b => new BoxView(b.ClassId, MathF.Round(b.Score, 3), MathF.Round(b.X1, 1), MathF.Round(b.Y1, 1), MathF.Round(b.X2, 1), MathF.Round(b.Y2, 1))).ToList(),
            reference.Model?.Version,
            frame.ShadowDetectionsJson is { } shadow ? Parse(shadow) : null,
            frame.ShadowModelVersion,
            reference.Model?.ClassNames ?? []));
    }

    private static async Task<IResult> JpegAsync(string deviceId, long sequence, DashboardQueries queries, DashboardCounters counters, CancellationToken cancellationToken)
    {
        if (CheckDevice(deviceId, counters) is { } bad)
        {
            return bad;
        }

        // A stored frame never changes: cache it in the browser for a day.
        return await queries.FindHardFrameJpegAsync(deviceId, sequence, cancellationToken) is { } jpeg
            ? Results.Bytes(jpeg, "image/jpeg", entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{deviceId}-{sequence}\""))
            : NotFound(deviceId, sequence);
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static IResult? CheckDevice(string deviceId, DashboardCounters counters) =>
        DeviceIds.IsValid(deviceId) ? null : BadRequest(counters, $"'{deviceId}' is not a valid device id (letters, digits, '-', '_', at most 64)");

    private static ProblemHttpResult BadRequest(DashboardCounters counters, string detail)
    {
        counters.BadRequest();
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest);
    }

    private static ProblemHttpResult NotFound(string deviceId, long sequence) =>
        TypedResults.Problem($"No hard frame {sequence} of device '{deviceId}' is stored (it may have been removed by retention).", statusCode: StatusCodes.Status404NotFound);
}

/// <summary>
/// The dashboard's static files, embedded in this assembly (Dashboard/site, no build step) and served with an ETag of
/// their content, so a silo started from any folder serves the same page.
/// </summary>
public sealed class DashboardSite
{
    private const string Prefix = "dashboard/";

    private readonly Dictionary<string, (byte[] Content, string ContentType, string ETag)> _files = Load();

    public IResult Serve(string? file, HttpContext context)
    {
        var name = string.IsNullOrEmpty(file) ? "index.html" : file;
        if (!_files.TryGetValue(name, out var entry))
        {
            return TypedResults.Problem($"The dashboard has no file '{name}'.", statusCode: StatusCodes.Status404NotFound);
        }

        context.Response.Headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch.ToString() == entry.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(entry.Content, entry.ContentType, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue(entry.ETag));
    }

    private static Dictionary<string, (byte[], string, string)> Load()
    {
        var assembly = typeof(DashboardSite).Assembly;
        var files = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            var bytes = memory.ToArray();
            var name = resource[Prefix.Length..];
            files[name] = (bytes, ContentType(name), "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"");
        }

        return files;
    }

    private static string ContentType(string name) => System.IO.Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "text/plain; charset=utf-8",
    };
}
