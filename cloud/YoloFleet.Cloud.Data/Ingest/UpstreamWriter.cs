using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>
/// Stores hard frames, telemetry and object events, one row per message, idempotently: (device_id, sequence) is the key, so a
/// redelivered message inserts nothing and reports false. Both are low-volume (a few per device per minute), so a
/// plain INSERT per message is enough; detections, the high-volume stream, go through <see cref="FrameBatchWriter"/>.
/// </summary>
public sealed class UpstreamWriter(NpgsqlDataSource dataSource)
{
    /// <summary>Returns true when the hard frame was new, false when it was already stored.</summary>
    public async Task<bool> InsertHardFrameAsync(HardFrameRow row, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO hard_frames (device_id, sequence, detections_sequence, captured_at, received_at, model_version, reason, jpeg, edge_detections,
                                     model_sha256, shadow_model_sha256, shadow_model_version, shadow_detections)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (device_id, sequence) DO NOTHING
            """);
        command.Parameters.AddWithValue(row.DeviceId);
        command.Parameters.AddWithValue(row.Sequence);
        command.Parameters.AddWithValue(row.DetectionsSequence);
        command.Parameters.AddWithValue(row.CapturedAt.UtcDateTime);
        command.Parameters.AddWithValue(row.ReceivedAt.UtcDateTime);
        command.Parameters.AddWithValue(row.ModelVersion);
        command.Parameters.AddWithValue(row.Reason);
        command.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>> { NpgsqlDbType = NpgsqlDbType.Bytea, TypedValue = row.Jpeg });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = DetectionsJson(row.EdgeDetections) });
        command.Parameters.AddWithValue(row.ModelSha256);
        command.Parameters.AddWithValue(row.ShadowModelSha256);
        command.Parameters.AddWithValue(row.ShadowModelVersion);
        command.Parameters.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = row.ShadowModelSha256.Length == 0 ? DBNull.Value : DetectionsJson(row.ShadowDetections ?? []),
        });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Returns true when the report was new, false when it was already stored.</summary>
    public async Task<bool> InsertTelemetryAsync(TelemetryRow row, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO telemetry (device_id, sequence, sent_at, received_at, frames_per_second, cpu_percent, rss_mb, temperature_c,
                                   throttled_flags, outbox_depth, outbox_evicted, frames_dropped, source_failures, source_error,
                                   model_version, stages, active_model_sha256, candidate_model_sha256, throttled)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            ON CONFLICT (device_id, sequence) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(row.DeviceId);
        p.AddWithValue(row.Sequence);
        p.AddWithValue(row.SentAt.UtcDateTime);
        p.AddWithValue(row.ReceivedAt.UtcDateTime);
        p.AddWithValue(row.FramesPerSecond);
        p.AddWithValue(row.CpuPercent);
        p.AddWithValue(row.RssMb);
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Real, Value = (object?)row.TemperatureC ?? DBNull.Value });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = (object?)row.ThrottledFlags ?? DBNull.Value });
        p.AddWithValue(row.OutboxDepth);
        p.AddWithValue(row.OutboxEvicted);
        p.AddWithValue(row.FramesDropped);
        p.AddWithValue(row.SourceFailures);
        p.AddWithValue(row.SourceError);
        p.AddWithValue(row.ModelVersion);
        p.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = JsonSerializer.Serialize(row.Stages.Select(s => new { stage = s.Stage, p50 = s.P50Ms, p95 = s.P95Ms })),
        });
        p.AddWithValue(row.ActiveModelSha256);
        p.AddWithValue(row.CandidateModelSha256);
        p.AddWithValue(row.Throttled);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Returns true when the object event was new, false when it was already stored.</summary>
    public async Task<bool> InsertObjectEventAsync(ObjectEventRow row, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO object_events (device_id, sequence, object_id, kind, revision, class_id, at, first_seen, last_seen, best_score,
                                       zones, lines, best_crop_jpeg, box_x1, box_y1, box_x2, box_y2, frame_width, frame_height,
                                       model_version, model_sha256, recovered, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
            ON CONFLICT (device_id, sequence) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(row.DeviceId);
        p.AddWithValue(row.Sequence);
        p.AddWithValue(row.ObjectId);
        p.AddWithValue(row.Kind);
        p.AddWithValue(row.Revision);
        p.AddWithValue(row.ClassId);
        p.AddWithValue(row.At.UtcDateTime);
        p.AddWithValue(row.FirstSeen.UtcDateTime);
        p.AddWithValue(row.LastSeen.UtcDateTime);
        p.AddWithValue(row.BestScore);
        p.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = JsonSerializer.Serialize(row.Zones.Select(z => new { zone = z.Zone, entered = z.Entered, exited = z.Exited })),
        });
        p.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Jsonb,
            Value = JsonSerializer.Serialize(row.Lines.Select(l => new { line = l.Line, direction = l.Direction, at = l.At })),
        });
        p.Add(new NpgsqlParameter
        {
            NpgsqlDbType = NpgsqlDbType.Bytea,
            Value = row.BestCropJpeg.IsEmpty ? DBNull.Value : row.BestCropJpeg.ToArray(),
        });
        foreach (var edge in new[] { row.BestBox?.X1, row.BestBox?.Y1, row.BestBox?.X2, row.BestBox?.Y2 })
        {
            p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Real, Value = (object?)edge ?? DBNull.Value });
        }

        p.AddWithValue(row.FrameWidth);
        p.AddWithValue(row.FrameHeight);
        p.AddWithValue(row.ModelVersion);
        p.AddWithValue(row.ModelSha256);
        p.AddWithValue(row.Recovered);
        p.AddWithValue(row.ReceivedAt.UtcDateTime);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Boxes as a compact JSON array: [{"c":0,"s":0.9,"x1":..,"y1":..,"x2":..,"y2":..}].</summary>
    public static string DetectionsJson(IEnumerable<DetectionRow> detections) =>
        JsonSerializer.Serialize(detections.Select(d => new { c = d.ClassId, s = d.Score, x1 = d.X1, y1 = d.Y1, x2 = d.X2, y2 = d.Y2 }));
}
