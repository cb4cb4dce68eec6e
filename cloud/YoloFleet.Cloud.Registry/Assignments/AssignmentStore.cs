using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>One device's part of an assignment (table model_assignments).</summary>
public sealed record ModelAssignmentRow(
    string AssignmentId,
    string DeviceId,
    string ModelName,
    int Version,
    string Slot,
    long Fp32VariantId,
    long? Int8VariantId,
    string? SelectedSha256,
    float MaxLatencyMs,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SelectedAt,
    int Revision,
    int? PublishedRevision,
    DateTimeOffset? PublishedAt,
    DateTimeOffset TokenExpiresAt)
{
    /// <summary>When the device's desired state last changed: its choice of variant, or the assignment itself.</summary>
    public DateTimeOffset DesiredSince => SelectedAt ?? CreatedAt;
}

/// <summary>A decision to record (table model_selections).</summary>
public sealed record SelectionToRecord(string DeviceId, string AssignmentId, string Fp32Sha256, string? Int8Sha256, VariantDecision Decision, string Basis, string CpuFeatures);

/// <summary>
/// Assignments in PostgreSQL. A device's newest row is what it should run; <c>revision</c> counts changes to its message
/// and <c>published_revision</c> the one the broker took, so a change made while the broker was away is published later
/// and a change that races a publish is never lost (the publish only marks the revision it read).
/// </summary>
public sealed class AssignmentStore(NpgsqlDataSource dataSource)
{
    public const string SingleVariant = "single-variant";
    public const string KnownFigures = "known-figures";
    public const string Benchmarked = "benchmarked";

    private const string Columns =
        "assignment_id, device_id, model_name, version, slot, fp32_variant_id, int8_variant_id, selected_sha256, max_latency_ms, created_at, selected_at, revision, published_revision, published_at, token_expires_at";

    /// <summary>Stores one row per device and the decisions already made, in one transaction.</summary>
    public async Task InsertAsync(IReadOnlyList<ModelAssignmentRow> rows, IReadOnlyList<SelectionToRecord> selections, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var row in rows)
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO model_assignments (assignment_id, device_id, model_name, version, slot, fp32_variant_id, int8_variant_id, selected_sha256,
                                               max_latency_ms, created_at, selected_at, revision, token_expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12)
                """, connection, transaction);
            var p = command.Parameters;
            p.AddWithValue(row.AssignmentId);
            p.AddWithValue(row.DeviceId);
            p.AddWithValue(row.ModelName);
            p.AddWithValue(row.Version);
            p.AddWithValue(row.Slot);
            p.AddWithValue(row.Fp32VariantId);
            p.Add(new NpgsqlParameter<long?> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = row.Int8VariantId });
            p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Char, TypedValue = row.SelectedSha256 });
            p.AddWithValue(row.MaxLatencyMs);
            p.AddWithValue(row.CreatedAt);
            p.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = row.SelectedAt });
            p.AddWithValue(row.TokenExpiresAt);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var selection in selections)
        {
            await InsertSelectionAsync(connection, transaction, selection, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<ModelAssignmentRow>> GetAsync(string assignmentId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM model_assignments WHERE assignment_id = $1 ORDER BY device_id");
        command.Parameters.AddWithValue(assignmentId);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>The device's newest assignment, or null when it has none.</summary>
    public async Task<ModelAssignmentRow?> LatestForDeviceAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(
            $"SELECT {Columns} FROM model_assignments WHERE device_id = $1 ORDER BY created_at DESC, assignment_id DESC LIMIT 1");
        command.Parameters.AddWithValue(deviceId);
        return (await ReadAsync(command, cancellationToken)).FirstOrDefault();
    }

    /// <summary>
    /// Records the variant chosen for a device that had none chosen yet, with the decision row, in one transaction;
    /// false (and nothing written) when a variant was already chosen.
    /// </summary>
    public async Task<bool> SelectAsync(SelectionToRecord selection, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var update = new NpgsqlCommand("""
            UPDATE model_assignments SET selected_sha256 = $3, selected_at = $4, revision = revision + 1
            WHERE assignment_id = $1 AND device_id = $2 AND selected_sha256 IS NULL
            """, connection, transaction))
        {
            update.Parameters.AddWithValue(selection.AssignmentId);
            update.Parameters.AddWithValue(selection.DeviceId);
            update.Parameters.AddWithValue(selection.Decision.ChosenSha256);
            update.Parameters.AddWithValue(at);
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return false;
            }
        }

        await InsertSelectionAsync(connection, transaction, selection, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Devices' newest rows whose message waits to be published: never published, changed since, or carrying
    /// download URLs that expire before <paramref name="refreshBefore"/> (those get a new expiry here first).
    /// </summary>
    public async Task<IReadOnlyList<ModelAssignmentRow>> DueForPublishingAsync(
        DateTimeOffset refreshBefore, DateTimeOffset newExpiry, int limit, CancellationToken cancellationToken = default)
    {
        await using (var refresh = dataSource.CreateCommand("""
            UPDATE model_assignments a SET token_expires_at = $2, revision = revision + 1
            FROM (SELECT DISTINCT ON (device_id) assignment_id, device_id FROM model_assignments ORDER BY device_id, created_at DESC, assignment_id DESC) latest
            WHERE a.assignment_id = latest.assignment_id AND a.device_id = latest.device_id AND a.token_expires_at < $1
            """))
        {
            refresh.Parameters.AddWithValue(refreshBefore);
            refresh.Parameters.AddWithValue(newExpiry);
            await refresh.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns} FROM (
                SELECT DISTINCT ON (device_id) * FROM model_assignments ORDER BY device_id, created_at DESC, assignment_id DESC) latest
            WHERE published_revision IS DISTINCT FROM revision
            ORDER BY created_at
            LIMIT $1
            """);
        command.Parameters.AddWithValue(limit);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>Marks <paramref name="revision"/> as taken by the broker (a newer revision stays due).</summary>
    public async Task MarkPublishedAsync(string assignmentId, string deviceId, int revision, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE model_assignments SET published_revision = $3, published_at = $4
            WHERE assignment_id = $1 AND device_id = $2 AND revision = $3
            """);
        command.Parameters.AddWithValue(assignmentId);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(revision);
        command.Parameters.AddWithValue(at);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The decisions recorded for a device's assignment, oldest first.</summary>
    public async Task<IReadOnlyList<SelectionView>> SelectionsAsync(string assignmentId, string? deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT device_id, chosen_sha256, chosen_precision, basis, reason, fp32_p50_ms, int8_p50_ms, cpu_features, decided_at
            FROM model_selections WHERE assignment_id = $1 AND ($2::text IS NULL OR device_id = $2) ORDER BY decided_at, id
            """);
        command.Parameters.AddWithValue(assignmentId);
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = deviceId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var selections = new List<SelectionView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            selections.Add(new SelectionView(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetFloat(5), reader.IsDBNull(6) ? null : reader.GetFloat(6), reader.GetString(7),
                reader.GetFieldValue<DateTimeOffset>(8)));
        }

        return selections;
    }

    private static async Task InsertSelectionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, SelectionToRecord selection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            INSERT INTO model_selections (device_id, assignment_id, fp32_sha256, int8_sha256, fp32_p50_ms, int8_p50_ms, chosen_sha256, chosen_precision,
                                          basis, reason, cpu_features)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """, connection, transaction);
        var p = command.Parameters;
        p.AddWithValue(selection.DeviceId);
        p.AddWithValue(selection.AssignmentId);
        p.AddWithValue(selection.Fp32Sha256);
        p.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlDbType.Char, TypedValue = selection.Int8Sha256 });
        p.Add(new NpgsqlParameter<float?> { NpgsqlDbType = NpgsqlDbType.Real, TypedValue = selection.Decision.Fp32P50Ms });
        p.Add(new NpgsqlParameter<float?> { NpgsqlDbType = NpgsqlDbType.Real, TypedValue = selection.Decision.Int8P50Ms });
        p.AddWithValue(selection.Decision.ChosenSha256);
        p.AddWithValue(selection.Decision.ChosenPrecision);
        p.AddWithValue(selection.Basis);
        p.AddWithValue(selection.Decision.Reason.Length <= 512 ? selection.Decision.Reason : selection.Decision.Reason[..512]);
        p.AddWithValue(selection.CpuFeatures);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<List<ModelAssignmentRow>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<ModelAssignmentRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ModelAssignmentRow(
                reader.GetString(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetInt32(3),
                reader.GetString(4),
                reader.GetInt64(5),
                reader.IsDBNull(6) ? null : reader.GetInt64(6),
                reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.GetFloat(8),
                reader.GetFieldValue<DateTimeOffset>(9),
                reader.IsDBNull(10) ? null : reader.GetFieldValue<DateTimeOffset>(10),
                reader.GetInt32(11),
                reader.IsDBNull(12) ? null : reader.GetInt32(12),
                reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
                reader.GetFieldValue<DateTimeOffset>(14)));
        }

        return rows;
    }
}

/// <summary>A recorded decision, as the API shows it.</summary>
public sealed record SelectionView(
    string DeviceId, string ChosenSha256, string ChosenPrecision, string Basis, string Reason, float? Fp32P50Ms, float? Int8P50Ms, string CpuFeatures,
    DateTimeOffset DecidedAt);
