using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Rollout.Storage;

/// <summary>A rollout's persisted state (table rollouts), as the grain holds it.</summary>
public sealed class RolloutRow
{
    public required string Id { get; init; }

    public required string ModelName { get; init; }

    public int CandidateVersion { get; init; }

    public int BaselineVersion { get; init; }

    public required string TargetKind { get; init; }

    public string? TargetGroup { get; init; }

    public required string[] TargetDevices { get; init; }

    public required RolloutStageSpec[] Stages { get; init; }

    public required RolloutGates Gates { get; init; }

    public required string State { get; set; }

    public int StageIndex { get; set; }

    public DateTimeOffset StageStartedAt { get; set; }

    /// <summary>Device id to "name@version" before the rollout; absent: the device had no assignment.</summary>
    public required Dictionary<string, string> PreviousModels { get; init; }

    public List<string> AssignmentIds { get; init; } = [];

    public GateReport? LastGate { get; set; }

    public string Reason { get; set; } = "";

    public required string CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>One audit row to write (table rollout_events).</summary>
public sealed record RolloutEventRow(DateTimeOffset At, string Actor, string Kind, string FromState, string ToState, int StageIndex, string Reason, string? FiguresJson);

/// <summary>
/// Rollouts and their audit trail in PostgreSQL. Every state change is written with its events in one transaction, so the
/// trail never disagrees with the state. A new rollout is inserted under a transaction-scoped advisory lock after checking
/// that none of its devices is in another active rollout, so two overlapping starts cannot both succeed.
/// </summary>
public sealed class RolloutStore(NpgsqlDataSource dataSource)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The advisory lock key of rollout starts ("ROLLOUTS" in ASCII).</summary>
    private const long StartLock = 0x524F4C4C4F555453;

    private const string Columns = "id, model_name, candidate_version, baseline_version, target_kind, target_group, target_devices, stages::text, gates::text, state, " +
        "stage_index, stage_started_at, previous_models::text, assignment_ids, last_gate::text, reason, created_by, created_at, updated_at, finished_at";

    private static readonly string InsertColumns = Columns.Replace("::text", "", StringComparison.Ordinal);

    /// <summary>Inserts the rollout and its first events; returns the id of an active rollout that shares a device instead (nothing written).</summary>
    public async Task<(string? ConflictingRollout, string[] SharedDevices)> InsertAsync(RolloutRow row, IReadOnlyList<RolloutEventRow> events, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            lockCommand.Parameters.AddWithValue(StartLock);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var overlap = new NpgsqlCommand("""
            SELECT id, ARRAY(SELECT unnest(target_devices) INTERSECT SELECT unnest($1::text[]) ORDER BY 1 LIMIT 10)
            FROM rollouts WHERE state IN ('running', 'paused') AND target_devices && $1::text[] ORDER BY created_at LIMIT 1
            """, connection, transaction))
        {
            overlap.Parameters.AddWithValue(row.TargetDevices);
            await using var reader = await overlap.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                return (reader.GetString(0), reader.GetFieldValue<string[]>(1));
            }
        }

        await using (var insert = new NpgsqlCommand($"""
            INSERT INTO rollouts ({InsertColumns})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, $13::jsonb, $14, $15::jsonb, $16, $17, $18, $19, $20)
            """, connection, transaction))
        {
            AddAll(insert.Parameters, row);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await InsertEventsAsync(connection, transaction, row.Id, events, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (null, []);
    }

    /// <summary>
    /// The oldest running or paused rollout whose target holds any of <paramref name="devices"/>, with those devices (at
    /// most 10); null when none does. For refusing manual assignments to devices a rollout is moving.
    /// </summary>
    public async Task<(string RolloutId, string[] HeldDevices)?> FindHoldingAsync(IReadOnlyCollection<string> devices, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT id, ARRAY(SELECT unnest(target_devices) INTERSECT SELECT unnest($1::text[]) ORDER BY 1 LIMIT 10)
            FROM rollouts WHERE state IN ('running', 'paused') AND target_devices && $1::text[] ORDER BY created_at LIMIT 1
            """, connection);
        command.Parameters.AddWithValue(devices.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetString(0), reader.GetFieldValue<string[]>(1)) : null;
    }

    /// <summary>Writes the rollout's mutable state and the events of this change in one transaction.</summary>
    public async Task SaveAsync(RolloutRow row, IReadOnlyList<RolloutEventRow> events, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var update = new NpgsqlCommand("""
            UPDATE rollouts SET state = $2, stage_index = $3, stage_started_at = $4, assignment_ids = $5, last_gate = $6::jsonb, reason = $7,
                                updated_at = $8, finished_at = $9
            WHERE id = $1
            """, connection, transaction))
        {
            var p = update.Parameters;
            p.AddWithValue(row.Id);
            p.AddWithValue(row.State);
            p.AddWithValue(row.StageIndex);
            p.AddWithValue(row.StageStartedAt);
            p.AddWithValue(row.AssignmentIds.ToArray());
            p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = row.LastGate is null ? null : JsonSerializer.Serialize(row.LastGate, Json) });
            p.AddWithValue(Truncate(row.Reason, 1024));
            p.AddWithValue(row.UpdatedAt);
            p.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = row.FinishedAt });
            if (await update.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                throw new InvalidOperationException($"Rollout {row.Id} is not in the rollouts table.");
            }
        }

        await InsertEventsAsync(connection, transaction, row.Id, events, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<RolloutRow?> FindAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM rollouts WHERE id = $1");
        command.Parameters.AddWithValue(id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new RolloutRow
        {
            Id = reader.GetString(0),
            ModelName = reader.GetString(1),
            CandidateVersion = reader.GetInt32(2),
            BaselineVersion = reader.GetInt32(3),
            TargetKind = reader.GetString(4),
            TargetGroup = reader.IsDBNull(5) ? null : reader.GetString(5),
            TargetDevices = reader.GetFieldValue<string[]>(6),
            Stages = JsonSerializer.Deserialize<RolloutStageSpec[]>(reader.GetString(7), Json)!,
            Gates = JsonSerializer.Deserialize<RolloutGates>(reader.GetString(8), Json)!,
            State = reader.GetString(9),
            StageIndex = reader.GetInt32(10),
            StageStartedAt = reader.GetFieldValue<DateTimeOffset>(11),
            PreviousModels = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(12), Json)!,
            AssignmentIds = [.. reader.GetFieldValue<string[]>(13)],
            LastGate = reader.IsDBNull(14) ? null : JsonSerializer.Deserialize<GateReport>(reader.GetString(14), Json),
            Reason = reader.GetString(15),
            CreatedBy = reader.GetString(16),
            CreatedAt = reader.GetFieldValue<DateTimeOffset>(17),
            UpdatedAt = reader.GetFieldValue<DateTimeOffset>(18),
            FinishedAt = reader.IsDBNull(19) ? null : reader.GetFieldValue<DateTimeOffset>(19),
        };
    }

    /// <summary>The rollout's audit trail, oldest first (the newest <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<RolloutEventView>> EventsAsync(string id, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT at, actor, kind, from_state, to_state, stage_index, reason, figures::text FROM (
                SELECT * FROM rollout_events WHERE rollout_id = $1 ORDER BY id DESC LIMIT $2) newest
            ORDER BY id
            """);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var events = new List<RolloutEventView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new RolloutEventView(
                reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetInt32(5), reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7)));
        }

        return events;
    }

    /// <summary>The ids of running rollouts (the keeper re-activates their grains after a restart).</summary>
    public async Task<IReadOnlyList<string>> RunningIdsAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT id FROM rollouts WHERE state = 'running' ORDER BY created_at LIMIT $1");
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Rollouts, newest first.</summary>
    public Task<IReadOnlyList<(string Id, string Model, int Candidate, string State, int StageIndex, DateTimeOffset CreatedAt)>> ListAsync(
        int limit, CancellationToken cancellationToken = default) =>
        ListPageAsync(null, limit, cancellationToken);

    /// <summary>A page of rollouts, newest first: the first <paramref name="limit"/> after <paramref name="after"/> (keyset on created_at, id).</summary>
    public async Task<IReadOnlyList<(string Id, string Model, int Candidate, string State, int StageIndex, DateTimeOffset CreatedAt)>> ListPageAsync(
        (DateTimeOffset CreatedAt, string Id)? after, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT id, model_name, candidate_version, state, stage_index, created_at FROM rollouts
            WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1, $2)
            ORDER BY created_at DESC, id DESC LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = after?.CreatedAt });
        command.Parameters.AddWithValue(after?.Id ?? "");
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<(string, string, int, string, int, DateTimeOffset)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return rows;
    }

    private static void AddAll(NpgsqlParameterCollection p, RolloutRow row)
    {
        p.AddWithValue(row.Id);
        p.AddWithValue(row.ModelName);
        p.AddWithValue(row.CandidateVersion);
        p.AddWithValue(row.BaselineVersion);
        p.AddWithValue(row.TargetKind);
        p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Varchar, TypedValue = row.TargetGroup });
        p.AddWithValue(row.TargetDevices);
        p.AddWithValue(JsonSerializer.Serialize(row.Stages, Json));
        p.AddWithValue(JsonSerializer.Serialize(row.Gates, Json));
        p.AddWithValue(row.State);
        p.AddWithValue(row.StageIndex);
        p.AddWithValue(row.StageStartedAt);
        p.AddWithValue(JsonSerializer.Serialize(row.PreviousModels, Json));
        p.AddWithValue(row.AssignmentIds.ToArray());
        p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = row.LastGate is null ? null : JsonSerializer.Serialize(row.LastGate, Json) });
        p.AddWithValue(Truncate(row.Reason, 1024));
        p.AddWithValue(row.CreatedBy);
        p.AddWithValue(row.CreatedAt);
        p.AddWithValue(row.UpdatedAt);
        p.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = row.FinishedAt });
    }

    private static async Task InsertEventsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string rolloutId, IReadOnlyList<RolloutEventRow> events, CancellationToken cancellationToken)
    {
        foreach (var e in events)
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO rollout_events (rollout_id, at, actor, kind, from_state, to_state, stage_index, reason, figures)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
                """, connection, transaction);
            var p = command.Parameters;
            p.AddWithValue(rolloutId);
            p.AddWithValue(e.At);
            p.AddWithValue(Truncate(e.Actor, 128));
            p.AddWithValue(e.Kind);
            p.AddWithValue(e.FromState);
            p.AddWithValue(e.ToState);
            p.AddWithValue(e.StageIndex);
            p.AddWithValue(Truncate(e.Reason, 2048));
            p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = e.FiguresJson });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..(max - 3)] + "...";
}
