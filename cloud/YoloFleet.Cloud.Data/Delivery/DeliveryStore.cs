using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cloud.Data.Delivery;

/// <summary>One dropped range of a validated <c>DeliveryReported</c>.</summary>
public sealed record DroppedRangeRow(long First, long Last, string Reason, long Messages);

/// <summary>A validated <c>DeliveryReported</c> on its way to the database.</summary>
public sealed record DeliveryReportRow(string DeviceId, long Sequence, DateTimeOffset ReportedAt, DateTimeOffset ReceivedAt, DroppedRangeRow[] Ranges);

/// <summary>A device's reported drops under one reason: how many ranges, messages and numbers.</summary>
public sealed record DropTotal(string Reason, long Ranges, long Messages, long Numbers);

/// <summary>
/// The drops devices reported (table <c>delivery_drops</c>), and the question a device grain asks before it requests a
/// gap again: which of these numbers does the cloud already hold, stored or reported as dropped?
/// </summary>
public sealed class DeliveryStore(NpgsqlDataSource dataSource)
{
    /// <summary>Stores a report's ranges; returns how many were new (0 when the report was stored before).</summary>
    public async Task<int> InsertReportAsync(DeliveryReportRow row, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO delivery_drops (device_id, report_sequence, first, last, reason, messages, reported_at, received_at)
            SELECT $1, $2, r.first, r.last, r.reason, r.messages, $3, $4
            FROM unnest($5::bigint[], $6::bigint[], $7::text[], $8::bigint[]) AS r(first, last, reason, messages)
            ON CONFLICT (device_id, report_sequence, first) DO NOTHING
            """);
        var p = command.Parameters;
        p.AddWithValue(row.DeviceId);
        p.AddWithValue(row.Sequence);
        p.AddWithValue(row.ReportedAt.UtcDateTime);
        p.AddWithValue(row.ReceivedAt.UtcDateTime);
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = row.Ranges.Select(r => r.First).ToArray() });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = row.Ranges.Select(r => r.Last).ToArray() });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = row.Ranges.Select(r => r.Reason).ToArray() });
        p.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint, Value = row.Ranges.Select(r => r.Messages).ToArray() });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A device's reported drops, by reason.</summary>
    public async Task<IReadOnlyList<DropTotal>> DropsByReasonAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT reason, count(*), coalesce(sum(messages), 0)::bigint, coalesce(sum(last - first + 1), 0)::bigint
            FROM delivery_drops WHERE device_id = $1 GROUP BY reason ORDER BY reason
            """);
        command.Parameters.AddWithValue(deviceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var totals = new List<DropTotal>();
        while (await reader.ReadAsync(cancellationToken))
        {
            totals.Add(new DropTotal(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return totals;
    }

    /// <summary>
    /// The numbers of <c>[first, last]</c> the cloud holds for a device, as ranges (unsorted, possibly overlapping): a
    /// frame, hard frame, telemetry report, shadow window, object event or delivery report with that sequence, or a reported drop covering it.
    /// </summary>
    public async Task<IReadOnlyList<(long First, long Last)>> HeldWithinAsync(string deviceId, long first, long last, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT sequence, sequence FROM frames WHERE device_id = $1 AND sequence BETWEEN $2 AND $3
            UNION ALL SELECT sequence, sequence FROM hard_frames WHERE device_id = $1 AND sequence BETWEEN $2 AND $3
            UNION ALL SELECT sequence, sequence FROM telemetry WHERE device_id = $1 AND sequence BETWEEN $2 AND $3
            UNION ALL SELECT sequence, sequence FROM shadow_windows WHERE device_id = $1 AND sequence BETWEEN $2 AND $3
            UNION ALL SELECT sequence, sequence FROM object_events WHERE device_id = $1 AND sequence BETWEEN $2 AND $3
            UNION ALL SELECT DISTINCT report_sequence, report_sequence FROM delivery_drops WHERE device_id = $1 AND report_sequence BETWEEN $2 AND $3
            UNION ALL SELECT greatest(first, $2), least(last, $3) FROM delivery_drops WHERE device_id = $1 AND last >= $2 AND first <= $3
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(first);
        command.Parameters.AddWithValue(last);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var held = new List<(long, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            held.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }

        return held;
    }
}
