using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using YoloFleet.Cli.AnalyticsBench;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet analytics-bench --rows 10000000 [--json]`: seeds a week of a fleet into its own database and times every
/// analytics query the API serves, cold and warm, with the rows its plan scanned (docs/analytics.md, docs/benchmarks.md).
/// </summary>
internal static class AnalyticsBenchVerb
{
    public const string DatabaseName = "yolofleet_analytics_bench";

    public static Command Create()
    {
        var rows = new Option<long>("--rows") { Description = "Detection rows to seed (frames, hard frames, verifications and telemetry in proportion).", DefaultValueFactory = _ => 10_000_000 };
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "PostgreSQL server (the bench creates its own database on it, --database, and drops it afterwards).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_PG") ?? "Host=127.0.0.1;Port=55432;Username=postgres",
        };
        var databaseName = new Option<string>("--database") { Description = "The database the bench creates, fills and drops.", DefaultValueFactory = _ => DatabaseName };
        var keep = new Option<bool>("--keep") { Description = "Keep the seeded database afterwards (to EXPLAIN by hand); the next run drops it." };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on stdout (progress goes to stderr)." };
        var command = new Command("analytics-bench", "Seed a fleet's week of detections and time every analytics query against it, cold and warm.") { rows, connection, databaseName, keep, json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(rows);
            if (count is < 100 or > 1_000_000_000)
            {
                await Console.Error.WriteLineAsync("error: --rows must be from 100 to 1,000,000,000.");
                return ExitCodes.Invalid;
            }

            string database;
            try
            {
                database = new NpgsqlConnectionStringBuilder(parse.GetValue(connection)) { Database = parse.GetValue(databaseName) }.ConnectionString;
            }
            catch (ArgumentException ex)
            {
                await Console.Error.WriteLineAsync($"error: --connection: {ex.Message}");
                return ExitCodes.Invalid;
            }

            AnalyticsBenchResult result;
            try
            {
                result = await AnalyticsBenchmark.RunAsync(database, count, parse.GetValue(keep), Console.Error, cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidOperationException or NpgsqlException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return ExitCodes.Unavailable;
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
                return ExitCodes.Ok;
            }

            var s = result.Seeded;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"seeded {s.Detections:N0} detections, {s.Frames:N0} frames, {s.HardFrames:N0} hard frames, {s.Verifications:N0} verifications, {s.Telemetry:N0} telemetry, {s.Devices} devices in {s.Seconds:0} s"));
            Console.WriteLine($"{"query",-36} {"range",-15} {"rows",7} {"scanned",11} {"cold ms",8} {"warm ms",8}  plan");
            foreach (var q in result.Queries)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{q.Name,-36} {q.Range,-15} {q.RowsReturned,7} {q.RowsScanned,11:N0} {q.ColdMs,8:0} {q.WarmMs,8:0}  {q.Plan}"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
