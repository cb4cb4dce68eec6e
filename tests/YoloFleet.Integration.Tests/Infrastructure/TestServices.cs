using System.Net.Sockets;
using Npgsql;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// The real services the tests use, started by deploy/services.sh (deploy/test.sh and .ci/run do that). A missing
/// service fails the test with the fix in the message; it is never skipped.
/// </summary>
public static class TestServices
{
    public static string PostgresServer =>
        Environment.GetEnvironmentVariable("YOLOFLEET_PG") ?? "Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres";

    public static (string Host, int Port) Mosquitto
    {
        get => Endpoint(Environment.GetEnvironmentVariable("YOLOFLEET_MQTT") ?? "127.0.0.1:11883");
    }

    /// <summary>The Redis used for Orleans cluster membership; fails with the fix when it is not running.</summary>
    public static async Task<string> RequireRedisAsync()
    {
        var value = Environment.GetEnvironmentVariable("YOLOFLEET_REDIS") ?? "127.0.0.1:16379";
        var (host, port) = Endpoint(value);
        await RequireTcpAsync("Redis", host, port, "redis", "YOLOFLEET_REDIS");
        return value;
    }

    public static async Task RequireMosquittoAsync()
    {
        var (host, port) = Mosquitto;
        await RequireTcpAsync("mosquitto", host, port, "mosquitto", "YOLOFLEET_MQTT");
    }

    private static (string Host, int Port) Endpoint(string hostAndPort)
    {
        var colon = hostAndPort.LastIndexOf(':');
        return (hostAndPort[..colon], int.Parse(hostAndPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task RequireTcpAsync(string name, string host, int port, string service, string variable)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(host, port).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"{name} is not reachable at {host}:{port} ({ex.Message}). Start it with `deploy/services.sh start {service}` or set {variable}.", ex);
        }
    }
}

/// <summary>A fresh, migrated database per test class, dropped afterwards.</summary>
public sealed class PostgresDatabase : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var name = "yf_test_" + Guid.NewGuid().ToString("N")[..12];
        ConnectionString = new NpgsqlConnectionStringBuilder(TestServices.PostgresServer) { Database = name }.ConnectionString;
        try
        {
            await YoloFleet.Cloud.Data.FleetDatabase.MigrateAsync(ConnectionString);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException(ex.Message + " Tests need the real PostgreSQL: run them with `bash deploy/test.sh`.", ex);
        }
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await YoloFleet.Cloud.Data.FleetDatabase.DropIfExistsAsync(ConnectionString);
    }

    public Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map) => QueryAsync(ConnectionString, sql, map);

    /// <summary>Rows of <paramref name="sql"/> on any database (a private server's, say).</summary>
    public static async Task<List<T>> QueryAsync<T>(string connectionString, string sql, Func<NpgsqlDataReader, T> map)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(map(reader));
        }

        return rows;
    }
}
