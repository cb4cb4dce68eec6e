using System.Diagnostics;
using System.Globalization;
using Npgsql;
using YoloFleet.Cloud.Net;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL server of the test's own (initdb into a temporary state directory, its own loopback port), started and
/// restarted through deploy/services.sh, for a test that takes the database away: the shared test server must stay up
/// for the other tests.
/// </summary>
public sealed class PrivatePostgres : IAsyncLifetime
{
    // Short: the server's Unix socket path lives under it and is limited to about 100 bytes.
    private readonly string _stateDirectory = Path.Combine(Path.GetTempPath(), "yf-pg-" + Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; private set; }

    /// <summary>The fleet's database on this server, created and migrated by <see cref="InitializeAsync"/>.</summary>
    public string ConnectionString =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = "yf_faults" }.ConnectionString;

    public async Task InitializeAsync()
    {
        Port = LoopbackPorts.GetFree();
        await StartAsync();
        await YoloFleet.Cloud.Data.FleetDatabase.MigrateAsync(ConnectionString);

        // services.sh turns synchronous_commit off for speed; a crash (and -m immediate is one) then loses the last
        // commits, which the silo has already confirmed to the devices. Durable commits, as in production and the ingest bench.
        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        await using var command = dataSource.CreateCommand("ALTER DATABASE yf_faults SET synchronous_commit = on");
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (Directory.Exists(_stateDirectory))
        {
            await RunServicesAsync("stop");
            Directory.Delete(_stateDirectory, recursive: true);
        }
    }

    /// <summary>Starts the server again on the same port and data (services.sh clears the lock files a crash leaves).</summary>
    public Task StartAsync() => RunServicesAsync("start");

    /// <summary>
    /// <c>pg_ctl stop -m immediate</c>: every backend is dropped at once, nothing is checkpointed, and the next start
    /// runs crash recovery, as when the database host loses power.
    /// </summary>
    public async Task StopImmediatelyAsync()
    {
        var pgCtl = Path.Combine(PostgresBin(), "pg_ctl");
        var data = Path.Combine(_stateDirectory, "postgres", "data");

        // As services.sh does: the server refuses to be run by root, so its user is postgres then.
        string[] command = Environment.UserName == "root"
            ? ["runuser", "-u", "postgres", "--", pgCtl, "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"]
            : [pgCtl, "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"];
        await RunAsync(command[0], command[1..], new Dictionary<string, string>());
    }

    /// <summary>The server binaries as deploy/services.sh finds them.</summary>
    private static string PostgresBin()
    {
        if (Environment.GetEnvironmentVariable("YOLOFLEET_PG_BIN") is { Length: > 0 } configured)
        {
            return configured;
        }

        const string Default = "/usr/lib/postgresql/15/bin";
        if (File.Exists(Path.Combine(Default, "pg_ctl")) || !Directory.Exists("/usr/lib/postgresql"))
        {
            return Default;
        }

        return Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pg_ctl"))).Order().LastOrDefault() ?? Default;
    }

    private Task RunServicesAsync(string action) => RunAsync(
        "bash",
        [RepositoryFolder.Path("deploy", "services.sh"), action, "postgres"],
        new Dictionary<string, string>
        {
            ["YOLOFLEET_STATE_DIR"] = _stateDirectory,
            ["YOLOFLEET_PG_PORT"] = Port.ToString(CultureInfo.InvariantCulture),
        });

    private static async Task RunAsync(string file, IEnumerable<string> arguments, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', start.ArgumentList)} failed ({process.ExitCode}): {await output}{await error}");
        }
    }
}
