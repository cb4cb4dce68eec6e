using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Analytics;

/// <summary>
/// The operators' analytics (GET /api/analytics/*, docs/analytics.md): plain parameterised SQL over the fleet's tables,
/// one round trip per query. Time ranges are half-open, [from, to), on the frame's capture time; buckets start on UTC
/// boundaries. The indexes each query relies on, and their plans at 10 M detections, are in docs/analytics.md.
/// </summary>
/// <param name="plans">When given, every query is also run under EXPLAIN (ANALYZE, BUFFERS) and its plan recorded there (the bench).</param>
/// <param name="maxRows">Rows one query returns at most (<see cref="MaxRows"/>); a longer answer is cut there and marked <see cref="AnalyticsResult{T}.Truncated"/>.</param>
public sealed class FleetAnalytics(NpgsqlDataSource dataSource, AnalyticsPlanRecorder? plans = null, int maxRows = FleetAnalytics.MaxRows)
{
    /// <summary>Rows one query may return by default; the API's bounds on range and bucket keep inside it for all but minute buckets of a busy fleet.</summary>
    public const int MaxRows = 100_000;

    // One row past the cap tells a full answer from a cut one.
    private readonly int _limit = maxRows is >= 1 ? maxRows + 1 : throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, "at least one row");

    /// <summary>Memory for one query's sorts and hashes: a day of a 200-device fleet's detections grouped by hour, device and class sorts in about 50 MB per process.</summary>
    private const string WorkMem = "64MB";

    /// <summary>A device whose latest message is older than this is offline (six of the agent's default 10 s telemetry intervals).</summary>
    public static readonly TimeSpan OnlineWindow = TimeSpan.FromSeconds(60);

    // The latest telemetry of each device, newest by arrival (ix_telemetry_device_id_received_at): a device that lost its
    // state restarts its sequences, so the highest sequence is not always the newest report.
    private const string LatestTelemetry = """
        LEFT JOIN LATERAL (
            SELECT t.received_at, t.throttled, t.outbox_depth, t.model_version, t.active_model_sha256
            FROM telemetry t WHERE t.device_id = d.device_id
            ORDER BY t.received_at DESC LIMIT 1) t ON true
        """;

    /// <summary>Boxes per bucket, device and class, optionally of one device and one class.</summary>
    public async Task<AnalyticsResult<DetectionCountRow>> DetectionsAsync(
        DateTimeOffset from, DateTimeOffset to, TimeBucket bucket, string? deviceId, int? classId, CancellationToken cancellationToken = default)
    {
        // Only the BRIN range on captured_at, or with a device the (device_id, captured_at) btree, reads the table.
        var sql = $"""
            SELECT date_trunc($3, captured_at, 'UTC') AS bucket, device_id, class_id, count(*)
            FROM detections
            WHERE captured_at >= $1 AND captured_at < $2
              AND ($4::text IS NULL OR device_id = $4) AND ($5::smallint IS NULL OR class_id = $5)
            GROUP BY 1, 2, 3
            ORDER BY 1, 2, 3
            LIMIT {_limit}
            """;
        return await QueryAsync("detections", sql, [Time(from), Time(to), BucketUnit(bucket), Text(deviceId), SmallInt(classId)],
            r =>
            {
                var classIdRead = r.GetInt16(2);
                return new DetectionCountRow(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), classIdRead, CocoClassNames.NameOf(classIdRead), r.GetInt64(3));
            }, cancellationToken);
    }

    /// <summary>p50, p95 and p99 of inference milliseconds per device, or per model (version and, when the agent says, the file's SHA-256).</summary>
    public async Task<AnalyticsResult<LatencyRow>> LatencyAsync(DateTimeOffset from, DateTimeOffset to, LatencyGrouping by, CancellationToken cancellationToken = default)
    {
        var key = by == LatencyGrouping.Device
            ? "device_id"
            : "model_version || CASE WHEN model_sha256 = '' THEN '' ELSE ' ' || left(model_sha256, 12) END";
        var sql = $"""
            SELECT {key} AS key, count(*), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY inference_ms)
            FROM frames
            WHERE captured_at >= $1 AND captured_at < $2
            GROUP BY 1
            ORDER BY 1
            LIMIT {_limit}
            """;
        return await QueryAsync("latency-by-" + (by == LatencyGrouping.Device ? "device" : "model"), sql, [Time(from), Time(to)], r =>
        {
            var p = r.GetFieldValue<double[]>(2);
            return new LatencyRow(r.GetString(0), r.GetInt64(1), p[0], p[1], p[2]);
        }, cancellationToken);
    }

    /// <summary>
    /// The edge's precision and recall against the FP32 verifier per bucket and model, pooled over the verified hard
    /// frames: matched boxes over the edge's boxes, and over the verifier's (1 when there were none to match).
    /// </summary>
    public async Task<AnalyticsResult<AgreementRow>> AgreementAsync(DateTimeOffset from, DateTimeOffset to, TimeBucket bucket, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            SELECT date_trunc($3, captured_at, 'UTC') AS bucket,
                   CASE WHEN model_version <> '' THEN model_version ELSE left(model_sha256, 12) END AS model,
                   count(*), sum(matched), sum(edge_boxes), sum(reference_boxes)
            FROM verifications
            WHERE role = 'edge' AND captured_at >= $1 AND captured_at < $2
            GROUP BY 1, 2
            ORDER BY 1, 2
            LIMIT {_limit}
            """;
        return await QueryAsync("agreement", sql, [Time(from), Time(to), BucketUnit(bucket)], r =>
        {
            var (matched, edge, reference) = (r.GetInt64(3), r.GetInt64(4), r.GetInt64(5));
            return new AgreementRow(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), r.GetInt64(2), Share(matched, edge), Share(matched, reference));
        }, cancellationToken);
    }

    /// <summary>Frames, hard frames and their ratio per bucket and device.</summary>
    public async Task<AnalyticsResult<HardFrameRateRow>> HardFramesAsync(DateTimeOffset from, DateTimeOffset to, TimeBucket bucket, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            WITH f AS (
                SELECT date_trunc($3, captured_at, 'UTC') AS bucket, device_id, count(*) AS n
                FROM frames WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1, 2),
            h AS (
                SELECT date_trunc($3, captured_at, 'UTC') AS bucket, device_id, count(*) AS n
                FROM hard_frames WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1, 2)
            SELECT bucket, device_id, coalesce(f.n, 0), coalesce(h.n, 0)
            FROM f FULL JOIN h USING (bucket, device_id)
            ORDER BY 1, 2
            LIMIT {_limit}
            """;
        return await QueryAsync("hard-frames", sql, [Time(from), Time(to), BucketUnit(bucket)], r =>
        {
            var (frames, hard) = (r.GetInt64(2), r.GetInt64(3));
            return new HardFrameRateRow(r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), frames, hard, frames == 0 ? 0 : (double)hard / frames);
        }, cancellationToken);
    }

    /// <summary>
    /// Every active device: online when its last frame or telemetry is within <see cref="OnlineWindow"/> of
    /// <paramref name="now"/>; throttling, outbox backlog and model from its latest telemetry.
    /// </summary>
    public async Task<AnalyticsResult<FleetHealthRow>> FleetHealthAsync(DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            SELECT d.device_id, greatest(d.last_seen_at, t.received_at) AS last_seen,
                   coalesce(t.throttled, false), coalesce(t.outbox_depth, 0),
                   coalesce(nullif(t.model_version, ''), left(t.active_model_sha256, 12), '')
            FROM devices d
            {LatestTelemetry}
            WHERE d.status = 'active'
            ORDER BY d.device_id
            LIMIT {_limit}
            """;
        var onlineSince = now - OnlineWindow;
        return await QueryAsync("fleet-health", sql, [], r =>
        {
            DateTimeOffset? lastSeen = r.IsDBNull(1) ? null : r.GetFieldValue<DateTimeOffset>(1);
            return new FleetHealthRow(r.GetString(0), lastSeen >= onlineSince, lastSeen, r.GetBoolean(2), r.GetInt64(3), r.GetString(4));
        }, cancellationToken);
    }

    /// <summary>The <paramref name="limit"/> devices with the highest <paramref name="by"/>, highest first (ties by device id).</summary>
    public async Task<AnalyticsResult<TopDeviceRow>> TopDevicesAsync(
        TopDevicesMetric by, int limit, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        var sql = by switch
        {
            // Each frame row carries its box count: a fifth of the rows of counting the boxes themselves.
            TopDevicesMetric.Detections => """
                SELECT device_id, sum(detection_count)::float8 FROM frames
                WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1
                """,
            TopDevicesMetric.LatencyP95 => """
                SELECT device_id, percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_ms) FROM frames
                WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1
                """,
            TopDevicesMetric.HardFrameRate => """
                SELECT f.device_id, coalesce(h.n, 0)::float8 / f.n
                FROM (SELECT device_id, count(*) AS n FROM frames WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1) f
                LEFT JOIN (SELECT device_id, count(*) AS n FROM hard_frames WHERE captured_at >= $1 AND captured_at < $2 GROUP BY 1) h USING (device_id)
                """,
            TopDevicesMetric.Disagreement => """
                SELECT device_id, CASE WHEN sum(edge_boxes) + sum(reference_boxes) = 0 THEN 0
                                       ELSE 1 - 2.0 * sum(matched) / (sum(edge_boxes) + sum(reference_boxes)) END::float8
                FROM verifications WHERE role = 'edge' AND captured_at >= $1 AND captured_at < $2 GROUP BY 1
                """,
            TopDevicesMetric.Backlog => $"""
                SELECT d.device_id, t.outbox_depth::float8 FROM devices d {LatestTelemetry}
                WHERE d.status = 'active' AND t.outbox_depth IS NOT NULL
                """,
            _ => throw new ArgumentOutOfRangeException(nameof(by), by, "unknown metric"),
        };
        // The backlog is the latest report whatever the range, so it takes no range parameters.
        var ranged = by != TopDevicesMetric.Backlog;
        var top = new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = limit };
        return await QueryAsync(
            "top-devices-" + by.ToString().ToLowerInvariant(),
            $"SELECT * FROM ({sql}) ranked(device_id, value) ORDER BY value DESC, device_id LIMIT ${(ranged ? 3 : 1)}",
            ranged ? [Time(from), Time(to), top] : [top],
            r => new TopDeviceRow(r.GetString(0), r.GetDouble(1)),
            cancellationToken);
    }

    private async Task<AnalyticsResult<T>> QueryAsync<T>(
        string name, string sql, NpgsqlParameter[] parameters, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        // For this query only: no JIT (it compiled for 170 ms to save less on these short aggregates), and sorts and
        // hashes of a day's rows in memory rather than on disk (the default 4 MB spilled).
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken);
        await using (var settings = new NpgsqlCommand($"SELECT set_config('jit', 'off', true), set_config('work_mem', '{WorkMem}', true)", connection, transaction))
        {
            await settings.ExecuteNonQueryAsync(cancellationToken);
        }

        if (plans is not null)
        {
            await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, connection, transaction);
            explain.Parameters.AddRange(parameters.Select(p => p.Clone()).ToArray());
            plans.Record(name, JsonDocument.Parse((string)(await explain.ExecuteScalarAsync(cancellationToken))!));
        }

        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        var rows = new AnalyticsResult<T>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (rows.Count == _limit - 1)
                {
                    rows.Truncated = true;
                    break;
                }

                rows.Add(map(reader));
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return rows;
    }

    private static double Share(long part, long whole) => whole == 0 ? 1 : (double)part / whole;

    private static NpgsqlParameter Time(DateTimeOffset value) => new() { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = value.UtcDateTime };

    private static NpgsqlParameter Text(string? value) => new() { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value };

    private static NpgsqlParameter SmallInt(int? value) => new() { NpgsqlDbType = NpgsqlDbType.Smallint, Value = value is { } v ? (short)v : DBNull.Value };

    private static NpgsqlParameter BucketUnit(TimeBucket bucket) => Text(bucket switch
    {
        TimeBucket.Minute => "minute",
        TimeBucket.Hour => "hour",
        TimeBucket.Day => "day",
        _ => throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "unknown bucket"),
    });
}

/// <summary>One query's rows; <see cref="Truncated"/> when there were more than the cap and the rest were left off.</summary>
public sealed class AnalyticsResult<T> : List<T>
{
    public bool Truncated { get; internal set; }
}

/// <summary>The EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) output of each query <see cref="FleetAnalytics"/> ran, by query name.</summary>
public sealed class AnalyticsPlanRecorder
{
    private readonly Dictionary<string, JsonDocument> _plans = [];

    public IReadOnlyDictionary<string, JsonDocument> Plans => _plans;

    internal void Record(string name, JsonDocument plan) => _plans[name] = plan;
}
