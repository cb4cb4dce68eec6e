using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Detections;

/// <summary>One stored box as the API lists it: its frame's (device, sequence), its place in the frame, and the box in original-image pixels.</summary>
public sealed record StoredDetection(
    long Sequence, short Index, DateTimeOffset CapturedAt, short ClassId, float Score, float X1, float Y1, float X2, float Y2);

/// <summary>
/// A device's stored detections, newest first (GET /api/devices/{id}/detections). Pages are keyset on the table's
/// primary key (device_id, sequence, idx), walked backwards, so a page costs the same however deep it is; the device's
/// sequence follows its capture order. The time range filters on captured_at.
/// </summary>
public sealed class DetectionHistory(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Up to <paramref name="limit"/> boxes of <paramref name="deviceId"/> captured in [from, to), newest first, after
    /// <paramref name="before"/> (the last (sequence, index) of the previous page; from the newest when null).
    /// </summary>
    public async Task<IReadOnlyList<StoredDetection>> PageAsync(
        string deviceId, DateTimeOffset? from, DateTimeOffset? to, (long Sequence, short Index)? before, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT sequence, idx, captured_at, class_id, score, x1, y1, x2, y2 FROM detections
            WHERE device_id = $1
              AND ($2::timestamptz IS NULL OR captured_at >= $2) AND ($3::timestamptz IS NULL OR captured_at < $3)
              AND ($4::bigint IS NULL OR (sequence, idx) < ($4, $5))
            ORDER BY sequence DESC, idx DESC LIMIT $6
            """);
        var p = command.Parameters;
        p.AddWithValue(deviceId);
        p.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = from });
        p.Add(new NpgsqlParameter<DateTimeOffset?> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = to });
        p.Add(new NpgsqlParameter<long?> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = before?.Sequence });
        p.AddWithValue(before?.Index ?? (short)0);
        p.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<StoredDetection>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredDetection(
                reader.GetInt64(0), reader.GetInt16(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetInt16(3), reader.GetFloat(4),
                reader.GetFloat(5), reader.GetFloat(6), reader.GetFloat(7), reader.GetFloat(8)));
        }

        return rows;
    }
}
