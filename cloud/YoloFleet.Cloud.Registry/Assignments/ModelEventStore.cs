using Npgsql;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>One acknowledgement to store (table model_events).</summary>
public sealed record ModelEventRow(
    string DeviceId,
    long Sequence,
    string AssignmentId,
    string Stage,
    bool Accepted,
    string ReasonCode,
    string Error,
    string Sha256,
    string ActiveSha256,
    string CandidateSha256,
    string CpuFeatures,
    DateTimeOffset SentAt,
    DateTimeOffset ReceivedAt);

/// <summary>
/// Devices' acknowledgements of model assignments, one row per message keyed by (device, sequence) so a redelivery is
/// stored once, and the latest latency each device measured for each artifact (table model_benchmarks), which lets
/// the cloud choose a variant at once when it assigns hashes a device has measured before.
/// </summary>
public sealed class ModelEventStore(NpgsqlDataSource dataSource)
{
    /// <summary>True when the event was new; false for a redelivery.</summary>
    public async Task<bool> InsertAsync(ModelEventRow row, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO model_events (device_id, sequence, assignment_id, stage, accepted, reason_code, error, sha256, active_sha256, candidate_sha256,
                                      cpu_features, sent_at, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (device_id, sequence) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(row.DeviceId);
        p.AddWithValue(row.Sequence);
        p.AddWithValue(row.AssignmentId);
        p.AddWithValue(row.Stage);
        p.AddWithValue(row.Accepted);
        p.AddWithValue(row.ReasonCode);
        p.AddWithValue(row.Error);
        p.AddWithValue(row.Sha256);
        p.AddWithValue(row.ActiveSha256);
        p.AddWithValue(row.CandidateSha256);
        p.AddWithValue(row.CpuFeatures);
        p.AddWithValue(row.SentAt);
        p.AddWithValue(row.ReceivedAt);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>A device's newest events, newest first.</summary>
    public Task<IReadOnlyList<ModelEventRow>> ListAsync(string deviceId, int limit, CancellationToken cancellationToken = default) =>
        ListAsync(deviceId, limit, before: null, cancellationToken);

    /// <summary>A device's events, newest first, older than <paramref name="before"/> (keyset on received_at, sequence; from the newest when null).</summary>
    public async Task<IReadOnlyList<ModelEventRow>> ListAsync(
        string deviceId, int limit, (DateTimeOffset ReceivedAt, long Sequence)? before, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT device_id, sequence, assignment_id, stage, accepted, reason_code, error, sha256, active_sha256, candidate_sha256, cpu_features, sent_at, received_at
            FROM model_events WHERE device_id = $1 AND ($3::timestamptz IS NULL OR (received_at, sequence) < ($3, $4))
            ORDER BY received_at DESC, sequence DESC LIMIT $2
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(limit);
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz, TypedValue = before?.ReceivedAt });
        command.Parameters.AddWithValue(before?.Sequence ?? 0L);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<ModelEventRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ModelEventRow(
                reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetString(5),
                reader.GetString(6), reader.GetString(7), reader.GetString(8), reader.GetString(9), reader.GetString(10),
                reader.GetFieldValue<DateTimeOffset>(11), reader.GetFieldValue<DateTimeOffset>(12)));
        }

        return rows;
    }

    /// <summary>Keeps each figure as the device's latest for that artifact.</summary>
    public async Task UpsertBenchmarksAsync(string deviceId, IReadOnlyList<BenchmarkFigure> figures, string cpuFeatures, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        foreach (var figure in figures)
        {
            await using var command = dataSource.CreateCommand("""
                INSERT INTO model_benchmarks (device_id, sha256, precision, p50_ms, p95_ms, runs, throttled, cpu_features, measured_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (device_id, sha256) DO UPDATE SET precision = EXCLUDED.precision, p50_ms = EXCLUDED.p50_ms, p95_ms = EXCLUDED.p95_ms,
                    runs = EXCLUDED.runs, throttled = EXCLUDED.throttled, cpu_features = EXCLUDED.cpu_features, measured_at = EXCLUDED.measured_at
                WHERE model_benchmarks.measured_at <= EXCLUDED.measured_at
                """);
            var p = command.Parameters;
            p.AddWithValue(deviceId);
            p.AddWithValue(figure.Sha256.ToLowerInvariant());
            p.AddWithValue(figure.Precision);
            p.AddWithValue(figure.P50Ms);
            p.AddWithValue(figure.P95Ms);
            p.AddWithValue(figure.Runs);
            p.AddWithValue(figure.Throttled);
            p.AddWithValue(cpuFeatures);
            p.AddWithValue(at);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>The device's latest figures for these artifacts (those it has measured), and the CPU features it reported with them.</summary>
    public async Task<(IReadOnlyList<BenchmarkFigure> Figures, string CpuFeatures)> BenchmarksAsync(
        string deviceId, IReadOnlyList<string> sha256s, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT sha256, precision, p50_ms, p95_ms, runs, throttled, cpu_features FROM model_benchmarks
            WHERE device_id = $1 AND sha256 = ANY($2) ORDER BY measured_at DESC
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(sha256s.Select(sha => sha.ToLowerInvariant()).ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var figures = new List<BenchmarkFigure>();
        var cpuFeatures = "";
        while (await reader.ReadAsync(cancellationToken))
        {
            figures.Add(new BenchmarkFigure(reader.GetString(0), reader.GetString(1), reader.GetFloat(2), reader.GetFloat(3), reader.GetInt32(4), reader.GetBoolean(5)));
            cpuFeatures = cpuFeatures.Length == 0 ? reader.GetString(6) : cpuFeatures;
        }

        return (figures, cpuFeatures);
    }
}
