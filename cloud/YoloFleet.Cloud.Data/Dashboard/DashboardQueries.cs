using Npgsql;

namespace YoloFleet.Cloud.Data.Dashboard;

/// <summary>A device's newest telemetry report, as the dashboard's fleet table shows it.</summary>
/// <param name="InferenceP50Ms">The "inference" stage's p50 in that report; null when the report has no such stage.</param>
public sealed record LatestTelemetry(
    string DeviceId, DateTimeOffset ReceivedAt, bool Throttled, float? InferenceP50Ms, float CpuPercent, float? TemperatureC, string ModelVersion,
    float FramesPerSecond, long OutboxDepth);

/// <summary>One telemetry report of one device (the device page's figures over time). <paramref name="StagesJson"/>: [{stage,p50,p95}].</summary>
public sealed record TelemetryPoint(
    long Sequence, DateTimeOffset ReceivedAt, float FramesPerSecond, float CpuPercent, float RssMb, float? TemperatureC, long OutboxDepth,
    bool Throttled, string ModelVersion, string StagesJson);

/// <summary>A stored hard frame without its JPEG, with the FP32 verifier's verdict on the edge's boxes when there is one.</summary>
public sealed record HardFrameSummary(
    string DeviceId, long Sequence, DateTimeOffset CapturedAt, DateTimeOffset ReceivedAt, string ModelVersion, string Reason, int EdgeBoxes,
    string? VerifierModel, float? Precision, float? Recall, int? ReferenceBoxes);

/// <summary>A stored hard frame's boxes: the edge's and, when a candidate ran it in shadow, the candidate's (JSON arrays of {c,s,x1,y1,x2,y2}).</summary>
public sealed record HardFrameBoxes(HardFrameSummary Frame, string EdgeDetectionsJson, string? ShadowDetectionsJson, string ShadowModelVersion);

/// <summary>
/// The dashboard's reads that no other API answers (docs/dashboard.md): each device's newest telemetry for the fleet
/// table, one device's recent telemetry, and the hard-frame gallery. Plain parameterised SQL, each bounded by a limit.
/// </summary>
public sealed class DashboardQueries(NpgsqlDataSource dataSource)
{
    private const string HardFrameColumns = """
        h.device_id, h.sequence, h.captured_at, h.received_at, h.model_version, h.reason, jsonb_array_length(h.edge_detections),
        v.verifier_model, v.precision, v.recall, v.reference_boxes
        """;

    private const string VerdictJoin = "LEFT JOIN verifications v ON v.device_id = h.device_id AND v.sequence = h.sequence AND v.role = 'edge'";

    /// <summary>
    /// The newest telemetry report of each device that sent one since <paramref name="since"/> (a range scan of
    /// ix_telemetry_received_at, then one row per device).
    /// </summary>
    public async Task<Dictionary<string, LatestTelemetry>> LatestTelemetryAsync(DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT ON (device_id) device_id, received_at, throttled,
                   (SELECT (s->>'p50')::real FROM jsonb_array_elements(stages) s WHERE s->>'stage' = 'inference' LIMIT 1),
                   cpu_percent, temperature_c, model_version, frames_per_second, outbox_depth
            FROM telemetry WHERE received_at >= $1
            ORDER BY device_id, received_at DESC, sequence DESC
            """);
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new Dictionary<string, LatestTelemetry>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = new LatestTelemetry(
                reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetFloat(3),
                reader.GetFloat(4), reader.IsDBNull(5) ? null : reader.GetFloat(5), reader.GetString(6), reader.GetFloat(7), reader.GetInt64(8));
            rows[row.DeviceId] = row;
        }

        return rows;
    }

    /// <summary>The device's newest <paramref name="limit"/> telemetry reports, oldest first.</summary>
    public async Task<List<TelemetryPoint>> RecentTelemetryAsync(string deviceId, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT * FROM (
                SELECT sequence, received_at, frames_per_second, cpu_percent, rss_mb, temperature_c, outbox_depth, throttled, model_version, stages::text
                FROM telemetry WHERE device_id = $1 ORDER BY sequence DESC LIMIT $2) t
            ORDER BY sequence
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<TelemetryPoint>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new TelemetryPoint(
                reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetFloat(2), reader.GetFloat(3), reader.GetFloat(4),
                reader.IsDBNull(5) ? null : reader.GetFloat(5), reader.GetInt64(6), reader.GetBoolean(7), reader.GetString(8), reader.GetString(9)));
        }

        return rows;
    }

    /// <summary>The newest hard frames (of one device, or of all), newest first, received before <paramref name="before"/> when given.</summary>
    public async Task<List<HardFrameSummary>> ListHardFramesAsync(string? deviceId, DateTimeOffset? before, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            SELECT {HardFrameColumns}
            FROM hard_frames h {VerdictJoin}
            WHERE ($1::varchar IS NULL OR h.device_id = $1) AND ($2::timestamptz IS NULL OR h.received_at < $2)
            ORDER BY h.received_at DESC, h.device_id, h.sequence DESC
            LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Varchar, TypedValue = deviceId });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz, TypedValue = before });
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<HardFrameSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(ReadSummary(reader));
        }

        return rows;
    }

    public async Task<HardFrameBoxes?> FindHardFrameAsync(string deviceId, long sequence, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"""
            SELECT {HardFrameColumns}, h.edge_detections::text, h.shadow_detections::text, h.shadow_model_version
            FROM hard_frames h {VerdictJoin}
            WHERE h.device_id = $1 AND h.sequence = $2
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(sequence);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new HardFrameBoxes(ReadSummary(reader), reader.GetString(11), reader.IsDBNull(12) ? null : reader.GetString(12), reader.GetString(13))
            : null;
    }

    public async Task<byte[]?> FindHardFrameJpegAsync(string deviceId, long sequence, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT jpeg FROM hard_frames WHERE device_id = $1 AND sequence = $2");
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(sequence);
        return await command.ExecuteScalarAsync(cancellationToken) as byte[];
    }

    private static HardFrameSummary ReadSummary(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetInt64(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3), r.GetString(4), r.GetString(5),
        r.IsDBNull(6) ? 0 : r.GetInt32(6),
        r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetFloat(8), r.IsDBNull(9) ? null : r.GetFloat(9), r.IsDBNull(10) ? null : r.GetInt32(10));
}
