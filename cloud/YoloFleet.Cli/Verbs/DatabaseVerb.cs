using System.CommandLine;
using YoloFleet.Cloud.Data;

namespace YoloFleet.Cli.Verbs;

/// <summary>`yolofleet db migrate`: the one-shot schema step, run before the silos start.</summary>
internal static class DatabaseVerb
{
    public const string DefaultConnection = "Host=127.0.0.1;Port=55432;Username=postgres;Database=yolofleet";

    public static Command Create()
    {
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "Npgsql connection string (default: YOLOFLEET_PG with Database=yolofleet, else the deploy/services.sh instance).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_DATABASE") ?? DefaultConnection,
        };
        var migrate = new Command("migrate", "Create the database if needed and apply pending EF Core migrations.") { connection };
        migrate.SetAction(async (parse, cancellationToken) =>
        {
            var cs = parse.GetValue(connection)!;
            try
            {
                var applied = await FleetDatabase.MigrateAsync(cs, cancellationToken);
                Console.WriteLine(applied.Count == 0 ? "Schema is up to date." : $"Applied {applied.Count} migration(s): {string.Join(", ", applied)}");
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
        });
        return new Command("db", "Database schema management.") { migrate };
    }
}
