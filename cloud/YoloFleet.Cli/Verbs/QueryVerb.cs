using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet query detections|latency|agreement|hard-frames|fleet-health|top-devices`: the silo's analytics
/// (GET /api/analytics/*, docs/analytics.md) as a table, or the API's JSON with --json. A thin HTTP client like
/// `rollout`; exit codes as <see cref="ExitCodes"/>.
/// </summary>
internal static class QueryVerb
{
    /// <summary>The silo's mark on an answer cut at its row cap (AnalyticsApi.TruncatedHeader).</summary>
    internal const string TruncatedHeader = "X-Result-Truncated";

    public static Command Create() => new("query", "The fleet's analytics from a silo's API: a table, or --json.")
    {
        Query("detections", "Boxes per time bucket, device and class.", bucket: true, device: true),
        Query("latency", "Inference-time p50/p95/p99 per device or per model (--by device|model).", by: "device|model"),
        Query("agreement", "The edge's precision and recall against the FP32 verifier per model and time bucket.", bucket: true),
        Query("hard-frames", "Frames, hard frames and their rate per time bucket and device.", bucket: true),
        Query("fleet-health", "Every device: online, last seen, throttling, outbox backlog, model.", range: false),
        Query("top-devices", "The devices with the most detections, or the highest latency, hard-frame rate, disagreement or backlog.",
            by: "detections|latencyP95|hardFrameRate|disagreement|backlog", limit: true),
    };

    private static Command Query(string name, string description, bool range = true, bool bucket = false, bool device = false, string? by = null, bool limit = false)
    {
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command(name, description) { url, apiKey, json };
        var parameters = new List<(string Parameter, Option<string?> Option)>();
        void Add(string parameter, string help)
        {
            var option = new Option<string?>("--" + parameter) { Description = help };
            command.Add(option);
            parameters.Add((parameter, option));
        }

        if (range)
        {
            Add("from", "Start, ISO-8601 (default: 24 hours before --to).");
            Add("to", "End, ISO-8601, exclusive (default: now).");
        }

        if (bucket)
        {
            Add("bucket", "minute|hour|day (default hour).");
        }

        if (device)
        {
            Add("device", "Only this device.");
            Add("class", "Only this class: its id or COCO name.");
        }

        if (by is not null)
        {
            Add("by", by + ".");
        }

        if (limit)
        {
            Add("limit", "How many devices (default 10, at most 100).");
        }

        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            var query = string.Join("&", parameters
                .Select(p => (p.Parameter, Value: parse.GetValue(p.Option)))
                .Where(p => p.Value is not null)
                .Select(p => p.Parameter + "=" + Uri.EscapeDataString(p.Value!)));
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(2));
            var truncated = false;
            var rows = await api.SendAsync(HttpMethod.Get, $"api/analytics/{name}" + (query.Length > 0 ? "?" + query : ""), null, cancellationToken,
                headers => truncated = headers.TryGetValues(TruncatedHeader, out var values) && values.Contains("true", StringComparer.OrdinalIgnoreCase));
            Console.WriteLine(parse.GetValue(json) ? rows.GetRawText() : Table(rows));
            if (truncated)
            {
                // On stderr, so that --json output stays one JSON document.
                await Console.Error.WriteLineAsync($"warning: the silo cut the answer at its row cap ({rows.GetArrayLength()} rows); narrow --from/--to or use a coarser --bucket.");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>An array of flat JSON objects as aligned columns, headed by the property names, with a row count below.</summary>
    internal static string Table(JsonElement rows)
    {
        if (rows.ValueKind != JsonValueKind.Array)
        {
            throw new SiloApiException(ExitCodes.Unavailable, $"the silo answered {rows.ValueKind}, not an array of rows");
        }

        var items = rows.EnumerateArray().ToList();
        if (items.Count == 0)
        {
            return "(no rows)";
        }

        var columns = items[0].EnumerateObject().Select(p => p.Name).ToList();
        var cells = items.Select(row => columns.Select(c => row.TryGetProperty(c, out var v) ? Cell(v) : "").ToArray()).ToList();
        var widths = columns.Select((c, i) => Math.Max(c.Length, cells.Max(r => r[i].Length))).ToArray();
        var numeric = columns.Select(c => items[0].GetProperty(c).ValueKind == JsonValueKind.Number).ToArray();
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> values)
        {
            text.Append(string.Join("  ", values.Select((v, i) => numeric[i] ? v.PadLeft(widths[i]) : v.PadRight(widths[i]))).TrimEnd()).Append('\n');
        }

        Line(columns);
        foreach (var row in cells)
        {
            Line(row);
        }

        return text.Append(CultureInfo.InvariantCulture, $"{items.Count} row(s)").ToString();
    }

    private static string Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => "-",
        JsonValueKind.Number when value.TryGetInt64(out var whole) => whole.ToString(CultureInfo.InvariantCulture),
        JsonValueKind.Number => value.GetDouble().ToString("0.####", CultureInfo.InvariantCulture),
        JsonValueKind.String => value.GetString()!,
        _ => value.GetRawText(),
    };
}
