using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using YoloFleet.Cloud.Data;
using YoloFleet.Cloud.Data.Analytics;

namespace YoloFleet.Cli.AnalyticsBench;

/// <summary>One query's figures: rows the plan's scans read (kept and filtered out), its scans, and its time cold and warm.</summary>
internal sealed record AnalyticsQueryResult(string Name, string Range, long RowsReturned, long RowsScanned, string Plan, double ColdMs, double WarmMs);

internal sealed record AnalyticsBenchResult(string Database, SeededVolume Seeded, IReadOnlyList<AnalyticsQueryResult> Queries);

/// <summary>
/// `yolofleet analytics-bench`: seeds a fresh database (<see cref="AnalyticsSeeder"/>), then runs every analytics query
/// the API serves, with the API's default range (the last 24 hours) unless the row says otherwise: once cold (the first
/// run in a new session, so plans and catalog caches start empty; the pages may still be cached from seeding), then three
/// times warm (the median), then once under EXPLAIN (ANALYZE, BUFFERS) for the rows scanned and the plan.
/// </summary>
internal static class AnalyticsBenchmark
{
    public static async Task<AnalyticsBenchResult> RunAsync(string database, long rows, bool keep, TextWriter progress, CancellationToken cancellationToken)
    {
        var name = new NpgsqlConnectionStringBuilder(database).Database!;
        await progress.WriteLineAsync($"[1/3] PostgreSQL: fresh database {name}");
        await FleetDatabase.DropIfExistsAsync(database, cancellationToken);
        await FleetDatabase.MigrateAsync(database, cancellationToken);
        try
        {
            var end = DateTimeOffset.UtcNow;
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"[2/3] seeding {rows:N0} detections over {AnalyticsSeeder.Span.TotalDays:0} days (binary COPY)"));
            var seeded = await AnalyticsSeeder.SeedAsync(database, rows, end, progress, cancellationToken);

            await progress.WriteLineAsync("[3/3] queries: cold, warm (median of 3), EXPLAIN ANALYZE");
            var (from, to) = (end - TimeSpan.FromHours(24), end);
            var device = AnalyticsSeeder.DeviceId(1);
            var queries = new List<(string Name, string Range, Func<FleetAnalytics, Task<int>> Run)>
            {
                ("detections", "24 h, by hour", async a => (await a.DetectionsAsync(from, to, TimeBucket.Hour, null, null, cancellationToken)).Count),
                ("detections (one device)", "24 h, by hour", async a => (await a.DetectionsAsync(from, to, TimeBucket.Hour, device, null, cancellationToken)).Count),
                ("detections (one device, one class)", "7 days, by day",
                    async a => (await a.DetectionsAsync(end - AnalyticsSeeder.Span, to, TimeBucket.Day, device, 0, cancellationToken)).Count),
                ("latency by device", "24 h", async a => (await a.LatencyAsync(from, to, LatencyGrouping.Device, cancellationToken)).Count),
                ("latency by model", "24 h", async a => (await a.LatencyAsync(from, to, LatencyGrouping.Model, cancellationToken)).Count),
                ("agreement", "24 h, by hour", async a => (await a.AgreementAsync(from, to, TimeBucket.Hour, cancellationToken)).Count),
                ("agreement", "7 days, by day", async a => (await a.AgreementAsync(end - AnalyticsSeeder.Span, to, TimeBucket.Day, cancellationToken)).Count),
                ("hard-frames", "24 h, by hour", async a => (await a.HardFramesAsync(from, to, TimeBucket.Hour, cancellationToken)).Count),
                ("fleet-health", "latest", async a => (await a.FleetHealthAsync(end, cancellationToken)).Count),
            };
            foreach (var metric in Enum.GetValues<TopDevicesMetric>())
            {
                queries.Add(($"top-devices by {metric}", metric == TopDevicesMetric.Backlog ? "latest" : "24 h",
                    async a => (await a.TopDevicesAsync(metric, 10, from, to, cancellationToken)).Count));
            }

            var results = new List<AnalyticsQueryResult>();
            foreach (var (queryName, range, run) in queries)
            {
                // A new pool per query: its first run opens a new session (no cached plans or catalog entries).
                await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(database) { Pooling = true, ApplicationName = "analytics-bench" }.ConnectionString);
                var analytics = new FleetAnalytics(dataSource);
                var clock = Stopwatch.StartNew();
                var returned = await run(analytics);
                var cold = clock.Elapsed.TotalMilliseconds;
                var warm = new List<double>();
                for (var i = 0; i < 3; i++)
                {
                    clock.Restart();
                    await run(analytics);
                    warm.Add(clock.Elapsed.TotalMilliseconds);
                }

                var plans = new AnalyticsPlanRecorder();
                await run(new FleetAnalytics(dataSource, plans));
                var plan = plans.Plans.Values.Single().RootElement[0].GetProperty("Plan");
                var result = new AnalyticsQueryResult(queryName, range, returned, RowsScanned(plan), Scans(plan), cold, warm.Order().ElementAt(1));
                results.Add(result);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  {queryName} ({range}): {result.RowsReturned:N0} rows, {result.RowsScanned:N0} scanned, cold {result.ColdMs:0} ms, warm {result.WarmMs:0} ms"));
            }

            return new AnalyticsBenchResult(name, seeded, results);
        }
        finally
        {
            if (!keep)
            {
                NpgsqlConnection.ClearAllPools();
                await FleetDatabase.DropIfExistsAsync(database, CancellationToken.None);
            }
        }
    }

    /// <summary>Rows read by every scan in the plan: kept plus removed by filter or recheck, times loops (parallel workers included).</summary>
    internal static long RowsScanned(JsonElement node)
    {
        long rows = 0;
        if (node.TryGetProperty("Relation Name", out _))
        {
            var loops = node.GetProperty("Actual Loops").GetDouble();
            var kept = node.GetProperty("Actual Rows").GetDouble();
            var removed = (node.TryGetProperty("Rows Removed by Filter", out var f) ? f.GetDouble() : 0)
                + (node.TryGetProperty("Rows Removed by Index Recheck", out var r) ? r.GetDouble() : 0);

            // Actual Rows is per loop; the removed counts are totals over the loops already.
            rows += (long)Math.Round((kept * loops) + removed);
        }

        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray())
            {
                rows += RowsScanned(child);
            }
        }

        return rows;
    }

    /// <summary>The plan's scans, e.g. "Bitmap Heap Scan detections (ix_detections_captured_at_brin)", in plan order, each once.</summary>
    internal static string Scans(JsonElement plan)
    {
        var scans = new List<string>();
        void Walk(JsonElement node)
        {
            if (node.TryGetProperty("Relation Name", out var relation) || node.GetProperty("Node Type").GetString() == "Bitmap Index Scan")
            {
                var index = node.TryGetProperty("Index Name", out var i) ? $" ({i.GetString()})" : "";
                var text = $"{node.GetProperty("Node Type").GetString()} {(relation.ValueKind == JsonValueKind.String ? relation.GetString() + index : index.Trim())}".Trim();
                if (!scans.Contains(text))
                {
                    scans.Add(text);
                }
            }

            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    Walk(child);
                }
            }
        }

        Walk(plan);
        return string.Join("; ", scans);
    }
}
