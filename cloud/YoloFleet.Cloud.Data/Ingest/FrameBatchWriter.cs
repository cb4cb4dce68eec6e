using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>
/// Writes batches of frames and their boxes in one transaction, through binary COPY into session-local staging tables
/// and one INSERT ... ON CONFLICT DO NOTHING, so a redelivered message is stored exactly once.
/// </summary>
/// <remarks>
/// COPY cannot skip conflicting rows by itself; staging keeps COPY's speed (see FACTS: ~250k rows/s against ~15k for EF)
/// and lets PostgreSQL do the de-duplication on the (device_id, sequence) key.
/// </remarks>
public sealed class FrameBatchWriter(NpgsqlDataSource dataSource)
{
    private const string CreateStaging = """
        CREATE TEMP TABLE IF NOT EXISTS stage_frames (
            device_id text NOT NULL, sequence bigint NOT NULL, captured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
            model_version text NOT NULL, frame_width integer NOT NULL, frame_height integer NOT NULL, inference_ms real NOT NULL,
            frame_ref text NOT NULL, detection_count integer NOT NULL) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS stage_detections (
            device_id text NOT NULL, sequence bigint NOT NULL, idx smallint NOT NULL, captured_at timestamptz NOT NULL,
            class_id smallint NOT NULL, score real NOT NULL, x1 real NOT NULL, y1 real NOT NULL, x2 real NOT NULL, y2 real NOT NULL)
            ON COMMIT DELETE ROWS;
        """;

    private const string Merge = """
        INSERT INTO devices (device_id, first_seen_at, last_seen_at)
        SELECT device_id, min(received_at), max(received_at) FROM stage_frames GROUP BY device_id
        ON CONFLICT (device_id) DO UPDATE SET last_seen_at = GREATEST(devices.last_seen_at, EXCLUDED.last_seen_at);

        WITH inserted AS (
            INSERT INTO frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height,
                                inference_ms, frame_ref, detection_count)
            SELECT device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height,
                   inference_ms, frame_ref, detection_count
            FROM stage_frames
            ON CONFLICT (device_id, sequence) DO NOTHING
            RETURNING device_id, sequence),
        boxes AS (
            INSERT INTO detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2)
            SELECT d.device_id, d.sequence, d.idx, d.captured_at, d.class_id, d.score, d.x1, d.y1, d.x2, d.y2
            FROM stage_detections d JOIN inserted i ON i.device_id = d.device_id AND i.sequence = d.sequence
            RETURNING 1)
        SELECT i.device_id, i.sequence, (SELECT count(*) FROM boxes) FROM inserted i;
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

        await CopyFramesAsync(connection, unique, cancellationToken);
        await CopyDetectionsAsync(connection, unique, cancellationToken);

        var inserted = new List<(string, long)>(unique.Count);
        long boxes = 0;
        await using (var merge = new NpgsqlCommand(Merge, connection, transaction))
        await using (var reader = await merge.ExecuteReaderAsync(cancellationToken))
        {
            // The first statement (devices) returns no rows; the merge's rows follow.
            do
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    inserted.Add((reader.GetString(0), reader.GetInt64(1)));
                    boxes = reader.GetInt64(2);
                }
            }
            while (await reader.NextResultAsync(cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
        return new BatchWriteResult(inserted, frames.Count - inserted.Count, boxes);
    }

    private static async Task CopyFramesAsync(NpgsqlConnection connection, List<FrameRow> frames, CancellationToken cancellationToken)
    {
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY stage_frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var f in frames)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(f.DeviceId, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(f.Sequence, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(f.CapturedAt.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(f.ReceivedAt.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(f.ModelVersion, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(f.FrameWidth, NpgsqlDbType.Integer, cancellationToken);
            await importer.WriteAsync(f.FrameHeight, NpgsqlDbType.Integer, cancellationToken);
            await importer.WriteAsync(f.InferenceMs, NpgsqlDbType.Real, cancellationToken);
            await importer.WriteAsync(f.FrameRef, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(f.Detections.Length, NpgsqlDbType.Integer, cancellationToken);
        }

        // Without Complete() the import is rolled back.
        await importer.CompleteAsync(cancellationToken);
    }

    private static async Task CopyDetectionsAsync(NpgsqlConnection connection, List<FrameRow> frames, CancellationToken cancellationToken)
    {
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY stage_detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var f in frames)
        {
            var capturedAt = f.CapturedAt.UtcDateTime;
            for (short i = 0; i < f.Detections.Length; i++)
            {
                var d = f.Detections[i];
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(f.DeviceId, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(f.Sequence, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(i, NpgsqlDbType.Smallint, cancellationToken);
                await importer.WriteAsync(capturedAt, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(d.ClassId, NpgsqlDbType.Smallint, cancellationToken);
                await importer.WriteAsync(d.Score, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.X1, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.Y1, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.X2, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(d.Y2, NpgsqlDbType.Real, cancellationToken);
            }
        }

        await importer.CompleteAsync(cancellationToken);
    }
}
