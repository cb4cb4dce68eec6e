using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace YoloFleet.Cloud.Data;

/// <summary>One-shot schema management: create the database if needed and apply EF Core migrations.</summary>
public static class FleetDatabase
{
    /// <summary>Creates the database named in the connection string when it does not exist yet.</summary>
    public static async Task EnsureCreatedAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var databaseName = target.Database ?? throw new ArgumentException("The connection string names no Database.", nameof(connectionString));
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException(
                $"Cannot reach PostgreSQL at {target.Host}:{target.Port} ({ex.Message}). Start it with `deploy/services.sh start postgres` or fix the connection string.",
                ex);
        }

        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection);
        exists.Parameters.AddWithValue(databaseName);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            // Identifiers cannot be parameters; quote it the way PostgreSQL does.
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{databaseName.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
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
}
