using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>A job as stored (table model_jobs).</summary>
public sealed record ModelJobRow(
    long Id,
    string Kind,
    string ModelName,
    int SourceVersion,
    string InputsKey,
    string State,
    int Percent,
    string Message,
    string? Error,
    string InputsJson,
    string? ClaimedBy,
    long? ResultVariantId,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt);

public static class ModelJobStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>
/// Quantize jobs in PostgreSQL, so that any silo can run one and a job outlives the silo that took it: a silo claims the
/// oldest queued job (or a running one whose heartbeat stopped) with <c>FOR UPDATE SKIP LOCKED</c>, reports progress
/// on the row (which is the heartbeat), and finishes it. Progress written by a silo that lost its claim is ignored.
/// </summary>
public sealed class ModelJobStore(NpgsqlDataSource dataSource)
{
    private const string Columns =
        "id, kind, model_name, source_version, inputs_key, state, percent, message, error, inputs::text, claimed_by, result_variant_id, created_at, updated_at, started_at, finished_at";

    /// <summary>
    /// Creates a queued job for these inputs, or returns the job that already has them (Created false). A failed job
    /// asked for again is queued again: asking twice never runs the same inputs twice at once, but a failure can be retried.
    /// </summary>
    public async Task<(ModelJobRow Job, bool Created)> SubmitAsync(
        string kind, string modelName, int sourceVersion, string inputsKey, string inputsJson, CancellationToken cancellationToken = default)
    {
        await using (var insert = dataSource.CreateCommand($"""
            INSERT INTO model_jobs (kind, model_name, source_version, inputs_key, state, percent, message, inputs)
            VALUES ($1, $2, $3, $4, 'queued', 0, 'queued', $5)
            ON CONFLICT (inputs_key) DO NOTHING
            RETURNING {Columns}
            """))
        {
            insert.Parameters.AddWithValue(kind);
            insert.Parameters.AddWithValue(modelName);
            insert.Parameters.AddWithValue(sourceVersion);
            insert.Parameters.AddWithValue(inputsKey);
            insert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = inputsJson });
            if ((await ReadAsync(insert, cancellationToken)).FirstOrDefault() is { } created)
            {
                return (created, true);
            }
        }

        await using var retry = dataSource.CreateCommand($"""
            UPDATE model_jobs SET state = 'queued', percent = 0, message = 'queued again after a failure', error = NULL,
                                  claimed_by = NULL, started_at = NULL, finished_at = NULL, updated_at = now()
            WHERE inputs_key = $1 AND state = 'failed'
            RETURNING {Columns}
            """);
        retry.Parameters.AddWithValue(inputsKey);
        if ((await ReadAsync(retry, cancellationToken)).FirstOrDefault() is { } requeued)
        {
            return (requeued, true);
        }

        await using var existing = dataSource.CreateCommand($"SELECT {Columns} FROM model_jobs WHERE inputs_key = $1");
        existing.Parameters.AddWithValue(inputsKey);
        return ((await ReadAsync(existing, cancellationToken)).Single(), false);
    }

    public async Task<ModelJobRow?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM model_jobs WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    /// <summary>Takes the oldest queued job, or a running one idle for <paramref name="staleAfter"/>; null when there is none.</summary>
    public async Task<ModelJobRow?> ClaimNextAsync(string claimant, TimeSpan staleAfter, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            UPDATE model_jobs SET state = 'running', claimed_by = $1, started_at = now(), updated_at = now(), percent = 0, message = 'starting'
            WHERE id = (
                SELECT id FROM model_jobs
                WHERE state = 'queued' OR (state = 'running' AND updated_at < now() - $2)
                ORDER BY id
                FOR UPDATE SKIP LOCKED
                LIMIT 1)
            RETURNING {Columns}
            """);
        command.Parameters.AddWithValue(claimant);
        command.Parameters.AddWithValue(staleAfter);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    /// <summary>Queues again the jobs <paramref name="claimant"/> was running (it restarted, so it is not running them now).</summary>
    public async Task<int> RequeueClaimedByAsync(string claimant, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE model_jobs SET state = 'queued', percent = 0, message = 'queued again: its silo restarted', claimed_by = NULL, updated_at = now()
            WHERE claimed_by = $1 AND state = 'running'
            """);
        command.Parameters.AddWithValue(claimant);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Records progress; false when the job is no longer this claimant's (taken over after a stall).</summary>
    public async Task<bool> ReportAsync(long id, string claimant, int percent, string message, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE model_jobs SET percent = $3, message = $4, updated_at = now()
            WHERE id = $1 AND claimed_by = $2 AND state = 'running'
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(claimant);
        command.Parameters.AddWithValue(Math.Clamp(percent, 0, 100));
        command.Parameters.AddWithValue(message.Length <= 512 ? message : message[..512]);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task SucceedAsync(long id, string claimant, long resultVariantId, string message, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE model_jobs SET state = 'succeeded', percent = 100, message = $3, result_variant_id = $4, finished_at = now(), updated_at = now()
            WHERE id = $1 AND claimed_by = $2
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(claimant);
        command.Parameters.AddWithValue(message.Length <= 512 ? message : message[..512]);
        command.Parameters.AddWithValue(resultVariantId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task FailAsync(long id, string claimant, string error, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE model_jobs SET state = 'failed', message = 'failed', error = $3, finished_at = now(), updated_at = now()
            WHERE id = $1 AND claimed_by = $2
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(claimant);
        command.Parameters.AddWithValue(error);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<ModelJobRow>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<ModelJobRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ModelJobRow(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetInt32(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.GetInt32(6),
                reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.GetString(9),
                reader.IsDBNull(10) ? null : reader.GetString(10),
                reader.IsDBNull(11) ? null : reader.GetInt64(11),
                reader.GetFieldValue<DateTimeOffset>(12),
                reader.GetFieldValue<DateTimeOffset>(13),
                reader.IsDBNull(14) ? null : reader.GetFieldValue<DateTimeOffset>(14),
                reader.IsDBNull(15) ? null : reader.GetFieldValue<DateTimeOffset>(15)));
        }

        return rows;
    }
}
