using Npgsql;

namespace YoloFleet.Cloud.Data.Scene;

/// <summary>Unique objects of one class that were in one zone in one hour (by the hour they entered it).</summary>
public sealed record ZoneHourCount(string DeviceId, string Zone, int ClassId, DateTimeOffset Hour, long Objects, double MeanDwellSeconds);

/// <summary>Crossings of one counting line in one direction by objects of one class.</summary>
public sealed record LineCount(string DeviceId, string Line, string Direction, int ClassId, long Crossings);

/// <summary>
/// Analytics over <c>object_events</c>, plain parameterised SQL. Each object is read at its latest stored revision (it
/// carries the object's whole story: every zone visit and line crossing so far), so a redelivered or updated event
/// never counts an object twice.
/// </summary>
public sealed class ObjectEventAnalytics(NpgsqlDataSource dataSource)
{
    private const string Latest = """
        WITH latest AS (
            SELECT DISTINCT ON (device_id, object_id) device_id, object_id, class_id, zones, lines
            FROM object_events
            WHERE last_seen >= $1 AND first_seen < $2 AND ($3::text IS NULL OR device_id = $3)
            ORDER BY device_id, object_id, revision DESC)
        """;

    /// <summary>Unique objects per class per zone per hour (of entry) between <paramref name="from"/> and <paramref name="to"/>, with their mean dwell (closed visits).</summary>
    public async Task<List<ZoneHourCount>> ZoneHoursAsync(DateTimeOffset from, DateTimeOffset to, string? deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(Latest + """
            SELECT l.device_id, v->>'zone', l.class_id, date_trunc('hour', (v->>'entered')::timestamptz) AS hour,
                   count(DISTINCT l.object_id),
                   coalesce(avg(extract(epoch FROM (v->>'exited')::timestamptz - (v->>'entered')::timestamptz)), 0)
            FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.zones) v
            WHERE (v->>'entered')::timestamptz >= $1 AND (v->>'entered')::timestamptz < $2
            GROUP BY 1, 2, 3, 4
            ORDER BY 4, 1, 2, 3
            """);
        AddRange(command, from, to, deviceId);
        var rows = new List<ZoneHourCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new ZoneHourCount(
                reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetFieldValue<DateTimeOffset>(3), reader.GetInt64(4), Convert.ToDouble(reader.GetValue(5))));
        }

        return rows;
    }

    /// <summary>Line crossings per line, direction and class between <paramref name="from"/> and <paramref name="to"/>.</summary>
    public async Task<List<LineCount>> LineCountsAsync(DateTimeOffset from, DateTimeOffset to, string? deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(Latest + """
            SELECT l.device_id, c->>'line', c->>'direction', l.class_id, count(*)
            FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.lines) c
            WHERE (c->>'at')::timestamptz >= $1 AND (c->>'at')::timestamptz < $2
            GROUP BY 1, 2, 3, 4
            ORDER BY 1, 2, 3, 4
            """);
        AddRange(command, from, to, deviceId);
        var rows = new List<LineCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new LineCount(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4)));
        }

        return rows;
    }

    private static void AddRange(NpgsqlCommand command, DateTimeOffset from, DateTimeOffset to, string? deviceId)
    {
        command.Parameters.AddWithValue(from.UtcDateTime);
        command.Parameters.AddWithValue(to.UtcDateTime);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)deviceId ?? DBNull.Value });
    }
}
