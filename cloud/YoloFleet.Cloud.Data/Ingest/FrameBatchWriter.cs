using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>
/// Writes batches of frames and their boxes in one transaction. Frames go through binary COPY into a session-local
/// staging table and one INSERT ... ON CONFLICT DO NOTHING, so a redelivered message is stored exactly once; the boxes of
/// the frames that were new then go by binary COPY straight into <c>detections</c>, and their counts per hour, device and
/// class into the <c>detections_hourly</c> rollup (docs/analytics.md).
/// </summary>
/// <remarks>
/// COPY cannot skip conflicting rows by itself; staging keeps COPY's speed (see FACTS: ~250k rows/s against ~15k for EF)
/// and lets PostgreSQL do the de-duplication on the (device_id, sequence) key. Boxes need no staging: their frame was
/// inserted by this transaction a moment before, so none of them can exist yet. Staging them too (the first design)
/// wrote every box twice and joined them back, about half of PostgreSQL's work per batch (docs/benchmarks.md).
/// </remarks>
public sealed class FrameBatchWriter(NpgsqlDataSource dataSource)
{
    private const string CreateStaging = """
        CREATE TEMP TABLE IF NOT EXISTS stage_frames (
            device_id text NOT NULL, sequence bigint NOT NULL, captured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
            model_version text NOT NULL, frame_width integer NOT NULL, frame_height integer NOT NULL, inference_ms real NOT NULL,
            frame_ref text NOT NULL, detection_count integer NOT NULL, throttled boolean NOT NULL, model_sha256 text NOT NULL)
            ON COMMIT DELETE ROWS;
        """;

    // devices.first_seen_at/last_seen_at: new devices are inserted without touching existing rows, and existing rows are
    // refreshed at most every 30 s, skipping rows another batch is refreshing right now. An upsert here (the first
    // design) locked every device row of the batch until commit: concurrent batches from several silos then queued
    // behind each other on the same 1,000 rows, and could deadlock. The device grain keeps the exact times.
    private const string Merge = """
        INSERT INTO devices (device_id, first_seen_at, last_seen_at)
        SELECT device_id, min(received_at), max(received_at) FROM stage_frames GROUP BY device_id
        ON CONFLICT (device_id) DO NOTHING;

        UPDATE devices d
        SET first_seen_at = COALESCE(d.first_seen_at, s.first_seen), last_seen_at = GREATEST(d.last_seen_at, s.last_seen)
        FROM (SELECT device_id, min(received_at) AS first_seen, max(received_at) AS last_seen FROM stage_frames GROUP BY device_id) s
        WHERE d.device_id = s.device_id
          AND d.device_id IN (
              SELECT l.device_id FROM devices l
              WHERE l.device_id IN (SELECT device_id FROM stage_frames)
                AND (l.first_seen_at IS NULL OR l.last_seen_at IS NULL OR l.last_seen_at < now() - interval '30 seconds')
              FOR NO KEY UPDATE SKIP LOCKED);

        INSERT INTO frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height,
                            inference_ms, frame_ref, detection_count, throttled, model_sha256)
        SELECT device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height,
               inference_ms, frame_ref, detection_count, throttled, model_sha256
        FROM stage_frames
        ON CONFLICT (device_id, sequence) DO NOTHING
        RETURNING device_id, sequence;
        """;

    /// <summary>Writes the batch and returns once it has committed. Throws on any database error; nothing is then stored.</summary>
    public async Task<BatchWriteResult> WriteAsync(IReadOnlyList<FrameRow> frames, CancellationToken cancellationToken = default)
    {
        if (frames.Count == 0)
        {
            return new BatchWriteResult([], 0, 0);
        }

        // A batch can hold the same message twice (a redelivery racing the first copy); keep the first.
        var unique = new List<FrameRow>(frames.Count);
        var seen = new HashSet<(string, long)>();
        foreach (var frame in frames)
        {
            if (seen.Add((frame.DeviceId, frame.Sequence)))
            {
                unique.Add(frame);
            }
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var create = new NpgsqlCommand(CreateStaging, connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await CopyFramesAsync(connection, "stage_frames", unique, cancellationToken);

        var inserted = new List<(string, long)>(unique.Count);
        await using (var merge = new NpgsqlCommand(Merge, connection, transaction))
        await using (var reader = await merge.ExecuteReaderAsync(cancellationToken))
        {
            // The device statements return no rows; the frames' keys follow.
            do
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    inserted.Add((reader.GetString(0), reader.GetInt64(1)));
                }
            }
            while (await reader.NextResultAsync(cancellationToken));
        }

        var isNew = new HashSet<(string, long)>(inserted);
        var newFrames = inserted.Count == unique.Count ? unique : unique.FindAll(f => isNew.Contains((f.DeviceId, f.Sequence)));
        var boxes = await CopyDetectionsAsync(connection, "detections", newFrames, cancellationToken);
        await AddToHourlyRollupAsync(connection, transaction, newFrames, cancellationToken);

        await transaction.CommitAsync(cancellationToken);
        return new BatchWriteResult(inserted, frames.Count - inserted.Count, boxes);
    }

    /// <summary>
    /// Adds the boxes of <paramref name="frames"/> (only the frames this transaction inserted, so a redelivery never
    /// counts twice) to detections_hourly, per UTC hour of capture, device and class: one upsert of the batch's few
    /// groups, in the caller's transaction, so the rollup commits with the boxes or not at all.
    /// </summary>
    /// <remarks>The groups go in key order, so two batches touching the same groups lock them in the same order (no deadlock).</remarks>
    public static async Task AddToHourlyRollupAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, IReadOnlyList<FrameRow> frames, CancellationToken cancellationToken)
    {
        // Ordinal, so every silo locks the groups in one order whatever its culture.
        var groups = new SortedDictionary<(DateTime Hour, string DeviceId, short ClassId), long>(Comparer<(DateTime Hour, string DeviceId, short ClassId)>.Create((a, b) =>
            a.Hour != b.Hour ? a.Hour.CompareTo(b.Hour)
            : string.CompareOrdinal(a.DeviceId, b.DeviceId) is var byDevice and not 0 ? byDevice
            : a.ClassId.CompareTo(b.ClassId)));
        foreach (var f in frames)
        {
            var utc = f.CapturedAt.UtcDateTime;
            var hour = new DateTime(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, DateTimeKind.Utc);
            foreach (var d in f.Detections)
            {
                groups[(hour, f.DeviceId, d.ClassId)] = groups.GetValueOrDefault((hour, f.DeviceId, d.ClassId)) + 1;
            }
        }

        if (groups.Count == 0)
        {
            return;
        }

        const string Upsert = """
            INSERT INTO detections_hourly (hour, device_id, class_id, boxes)
            SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::smallint[], $4::bigint[])
            ON CONFLICT (hour, device_id, class_id) DO UPDATE SET boxes = detections_hourly.boxes + EXCLUDED.boxes
            """;
        await using var upsert = new NpgsqlCommand(Upsert, connection, transaction);
        upsert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz, Value = groups.Keys.Select(k => k.Hour).ToArray() });
        upsert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = groups.Keys.Select(k => k.DeviceId).ToArray() });
        upsert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Smallint, Value = groups.Keys.Select(k => k.ClassId).ToArray() });
        upsert.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = groups.Values.ToArray() });
        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    // Rows go through BinaryCopyWriter rather than NpgsqlBinaryImporter, which binds a parameter per field: profiled at
    // 50k detections/s, its per-field writes were about a third of the silo's CPU (docs/benchmarks.md).
    // Public for the ingest bench's raw-COPY baseline, so that it writes exactly as the silo does.

    /// <summary>Binary COPY of the frames' own columns into <paramref name="table"/> (frames' columns, no committed_at).</summary>
    public static Task<long> CopyFramesAsync(NpgsqlConnection connection, string table, IReadOnlyList<FrameRow> frames, CancellationToken cancellationToken) =>
        BinaryCopyWriter.CopyAsync(
            connection,
            $"COPY {table} (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count, throttled, model_sha256) FROM STDIN (FORMAT BINARY)",
            async (copy, ct) =>
            {
                foreach (var f in frames)
                {
                    copy.StartRow(12);
                    copy.Text(f.DeviceId);
                    copy.Int64(f.Sequence);
                    copy.TimestampTz(f.CapturedAt);
                    copy.TimestampTz(f.ReceivedAt);
                    copy.Text(f.ModelVersion);
                    copy.Int32(f.FrameWidth);
                    copy.Int32(f.FrameHeight);
                    copy.Float4(f.InferenceMs);
                    copy.Text(f.FrameRef);
                    copy.Int32(f.Detections.Length);
                    copy.Bool(f.Throttled);
                    copy.Text(f.ModelSha256);
                    await copy.FlushIfFullAsync(ct);
                }
            },
            cancellationToken);

    /// <summary>Binary COPY of the frames' boxes into <paramref name="table"/> (detections' columns); returns the rows.</summary>
    public static Task<long> CopyDetectionsAsync(NpgsqlConnection connection, string table, IReadOnlyList<FrameRow> frames, CancellationToken cancellationToken) =>
        BinaryCopyWriter.CopyAsync(
            connection,
            $"COPY {table} (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2) FROM STDIN (FORMAT BINARY)",
            async (copy, ct) =>
            {
                foreach (var f in frames)
                {
                    for (short i = 0; i < f.Detections.Length; i++)
                    {
                        var d = f.Detections[i];
                        copy.StartRow(10);
                        copy.Text(f.DeviceId);
                        copy.Int64(f.Sequence);
                        copy.Int16(i);
                        copy.TimestampTz(f.CapturedAt);
                        copy.Int16(d.ClassId);
                        copy.Float4(d.Score);
                        copy.Float4(d.X1);
                        copy.Float4(d.Y1);
                        copy.Float4(d.X2);
                        copy.Float4(d.Y2);
                    }

                    await copy.FlushIfFullAsync(ct);
                }
            },
            cancellationToken);
}
