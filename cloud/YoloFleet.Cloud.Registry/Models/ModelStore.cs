using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Registry.Models;

/// <summary>One stored variant (table models).</summary>
public sealed record ModelVariantRow(
    long Id,
    string Name,
    int Version,
    string Format,
    string Sha256,
    long SizeBytes,
    string ManifestJson,
    string SigningKeyId,
    long? ParentId,
    long? JobId,
    string? ReportJson,
    DateTimeOffset CreatedAt);

/// <summary>A signed manifest for a variant about to be stored, made once its version number is known.</summary>
public sealed record SignedVariant(string ManifestJson, string SigningKeyId);

/// <summary>
/// The registry's metadata in PostgreSQL (table models): versions are numbered per name under a transaction-scoped
/// advisory lock on the name, so two uploads of one name at once get consecutive numbers, never the same one (the
/// unique index (name, version, format) backs that up).
/// </summary>
public sealed class ModelStore(NpgsqlDataSource dataSource)
{
    public const string Fp32 = "fp32";
    public const string Int8 = "int8";

    private const string Columns = "id, name, version, format, sha256, size_bytes, manifest::text, signing_key_id, parent_id, job_id, report::text, created_at";

    public async Task<ModelVariantRow?> FindAsync(string name, int version, string format, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM models WHERE name = $1 AND version = $2 AND format = $3");
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(version);
        command.Parameters.AddWithValue(format);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<ModelVariantRow?> FindByIdAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM models WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    /// <summary>The variants of one version, FP32 first.</summary>
    public async Task<IReadOnlyList<ModelVariantRow>> VersionAsync(string name, int version, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM models WHERE name = $1 AND version = $2 ORDER BY format");
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(version);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>The newest version number of <paramref name="name"/>, or null when there is none.</summary>
    public async Task<int?> LatestVersionAsync(string name, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT max(version) FROM models WHERE name = $1");
        command.Parameters.AddWithValue(name);
        return await command.ExecuteScalarAsync(cancellationToken) is int version ? version : null;
    }

    /// <summary>Variants, newest versions first; of one model when <paramref name="name"/> is given.</summary>
    public async Task<IReadOnlyList<ModelVariantRow>> ListAsync(string? name, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {Columns} FROM models WHERE ($1::text IS NULL OR name = $1) ORDER BY name, version DESC, format LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = name });
        command.Parameters.AddWithValue(limit);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>
    /// The variants of a page of versions in (name, version descending) order: the first <paramref name="versions"/>
    /// versions after <paramref name="after"/> (keyset, from the start when null); of one model when
    /// <paramref name="name"/> is given.
    /// </summary>
    public async Task<IReadOnlyList<ModelVariantRow>> ListPageAsync(
        string? name, (string Name, int Version)? after, int versions, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            WITH page AS (
                SELECT DISTINCT name AS page_name, version AS page_version FROM models
                WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR name > $2 OR (name = $2 AND version < $3))
                ORDER BY page_name, page_version DESC LIMIT $4)
            SELECT {Columns} FROM models JOIN page ON name = page_name AND version = page_version ORDER BY name, version DESC, format
            """);
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = name });
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = after?.Name });
        command.Parameters.AddWithValue(after?.Version ?? 0);
        command.Parameters.AddWithValue(versions);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>
    /// Stores an uploaded FP32 variant as the next version of <paramref name="name"/>, unless the newest version already
    /// holds the same file with the same manifest (<paramref name="sameAsNewest"/> decides): then that one is returned
    /// and nothing is written, so repeating an upload does not make a new version.
    /// </summary>
    public async Task<(ModelVariantRow Row, bool Created)> InsertFp32Async(
        string name, string sha256, long sizeBytes, Func<ModelVariantRow, bool> sameAsNewest, Func<int, SignedVariant> sign,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await LockNameAsync(connection, transaction, name, cancellationToken);
        var newest = await NewestFp32Async(connection, transaction, name, cancellationToken);
        if (newest is not null && newest.Sha256 == sha256 && sameAsNewest(newest))
        {
            await transaction.CommitAsync(cancellationToken);
            return (newest, false);
        }

        var version = await NextVersionAsync(connection, transaction, name, cancellationToken);
        var signed = sign(version);
        var row = await InsertAsync(connection, transaction, name, version, Fp32, sha256, sizeBytes, signed, parentId: null, jobId: null, report: null, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (row, true);
    }

    /// <summary>
    /// Stores a quantize job's INT8 variant. A version holds one INT8: it goes into <paramref name="sourceVersion"/>
    /// when that has none; when that already holds this very file, the stored row is returned; when it holds another
    /// INT8 (made from other calibration frames), the INT8 goes into a new version beside a copy of the FP32 variant,
    /// so that a version, once assigned, never changes under a device.
    /// </summary>
    /// <param name="sign">Signs the INT8 manifest (and, for a new version, the FP32 copy's) for the version number given.</param>
    public async Task<ModelVariantRow> InsertInt8Async(
        ModelVariantRow fp32, string sha256, long sizeBytes, long jobId, string reportJson, Func<int, (SignedVariant Int8, SignedVariant Fp32Copy)> sign,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await LockNameAsync(connection, transaction, fp32.Name, cancellationToken);
        await using (var existing = new NpgsqlCommand($"SELECT {Columns} FROM models WHERE name = $1 AND version = $2 AND format = $3", connection, transaction))
        {
            existing.Parameters.AddWithValue(fp32.Name);
            existing.Parameters.AddWithValue(fp32.Version);
            existing.Parameters.AddWithValue(Int8);
            var current = (await ReadAsync(existing, cancellationToken)).FirstOrDefault();
            if (current is null)
            {
                var row = await InsertAsync(connection, transaction, fp32.Name, fp32.Version, Int8, sha256, sizeBytes, sign(fp32.Version).Int8, fp32.Id, jobId, reportJson, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return row;
            }

            if (current.Sha256 == sha256)
            {
                await transaction.CommitAsync(cancellationToken);
                return current;
            }
        }

        var version = await NextVersionAsync(connection, transaction, fp32.Name, cancellationToken);
        var signed = sign(version);
        var copy = await InsertAsync(connection, transaction, fp32.Name, version, Fp32, fp32.Sha256, fp32.SizeBytes, signed.Fp32Copy, parentId: null, jobId: null, report: null, cancellationToken);
        var int8 = await InsertAsync(connection, transaction, fp32.Name, version, Int8, sha256, sizeBytes, signed.Int8, copy.Id, jobId, reportJson, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return int8;
    }

    private static async Task LockNameAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended('yolofleet.models:' || $1, 0))", connection, transaction);
        command.Parameters.AddWithValue(name);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<ModelVariantRow?> NewestFp32Async(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT {Columns} FROM models WHERE name = $1 AND format = 'fp32' ORDER BY version DESC LIMIT 1", connection, transaction);
        command.Parameters.AddWithValue(name);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    private static async Task<int> NextVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT COALESCE(max(version), 0) + 1 FROM models WHERE name = $1", connection, transaction);
        command.Parameters.AddWithValue(name);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<ModelVariantRow> InsertAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string name, int version, string format, string sha256, long sizeBytes,
        SignedVariant signed, long? parentId, long? jobId, string? report, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"""
            INSERT INTO models (name, version, format, sha256, size_bytes, manifest, signing_key_id, parent_id, job_id, report)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING {Columns}
            """, connection, transaction);
        var p = command.Parameters;
        p.AddWithValue(name);
        p.AddWithValue(version);
        p.AddWithValue(format);
        p.AddWithValue(sha256);
        p.AddWithValue(sizeBytes);
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = signed.ManifestJson });
        p.AddWithValue(signed.SigningKeyId);
        p.Add(new NpgsqlParameter<long?> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = parentId });
        p.Add(new NpgsqlParameter<long?> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = jobId });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = (object?)report ?? DBNull.Value });
        return (await ReadAsync(command, cancellationToken)).Single();
    }

    private static async Task<List<ModelVariantRow>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<ModelVariantRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ModelVariantRow(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetInt32(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetInt64(5),
                reader.GetString(6),
                reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetInt64(8),
                reader.IsDBNull(9) ? null : reader.GetInt64(9),
                reader.IsDBNull(10) ? null : reader.GetString(10),
                reader.GetFieldValue<DateTimeOffset>(11)));
        }

        return rows;
    }
}
