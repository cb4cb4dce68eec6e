using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace YoloFleet.Cloud.Data;

/// <summary>One-shot schema management: create the database if needed and apply EF Core migrations.</summary>
public static class FleetDatabase
{
    /// <summary>Creates the database named in the connection string when it does not exist yet.</summary>
    public static async Task EnsureCreatedAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var databaseName = DatabaseName(connectionString);
        await using var connection = await OpenServerAsync(connectionString, cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection);
        exists.Parameters.AddWithValue(databaseName);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE {QuoteIdentifier(databaseName)}", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Drops the database named in the connection string, closing its sessions first (demo resets, tests).</summary>
    public static async Task DropIfExistsAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var databaseName = DatabaseName(connectionString);
        await using var connection = await OpenServerAsync(connectionString, cancellationToken);
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {QuoteIdentifier(databaseName)} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Creates the database if needed and applies every pending migration. Returns the migrations applied.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await EnsureCreatedAsync(connectionString, cancellationToken);
        await using var context = FleetDbContext.Create(connectionString);
        var pending = (await context.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        await context.Database.MigrateAsync(cancellationToken);
        return pending;
    }

    /// <summary>A connection to the server's maintenance database, with the fix named when the server is unreachable.</summary>
    private static async Task<NpgsqlConnection> OpenServerAsync(string connectionString, CancellationToken cancellationToken)
    {
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        var connection = new NpgsqlConnection(admin.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (NpgsqlException ex)
        {
            await connection.DisposeAsync();
            throw new InvalidOperationException(
                $"Cannot reach PostgreSQL at {admin.Host}:{admin.Port} ({ex.Message}). Start it with `deploy/services.sh start postgres` or fix the connection string.",
                ex);
        }
    }

    private static string DatabaseName(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString).Database
            ?? throw new ArgumentException("The connection string names no Database.", nameof(connectionString));

    // Identifiers cannot be parameters; quote them the way PostgreSQL does.
    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
