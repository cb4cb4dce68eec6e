using Npgsql;

namespace YoloFleet.Cloud.Data.Retention;

/// <summary>The time-series tables that retention applies to, each with the column that ages it.</summary>
public enum RetainedTable
{
    /// <summary>
    /// frames, by received_at (the silo's clock, never the device's); their detections go with them in the same
    /// statement, so a frame and its boxes never outlive each other.
    /// </summary>
    Frames,

    /// <summary>hard_frames, by received_at; their verifications go with them.</summary>
    HardFrames,

    /// <summary>verifications, by verified_at.</summary>
    Verifications,

    /// <summary>telemetry, by received_at.</summary>
    Telemetry,
}

/// <summary>
/// Deletes rows older than a cut-off in bounded batches (one short transaction each), so retention never holds long
/// locks or bloats one transaction on a large table, and ingest keeps running beside it.
/// </summary>
public sealed class RetentionSweeper(NpgsqlDataSource dataSource)
{
    public static (string Table, string Column) Describe(RetainedTable table) => table switch
    {
        RetainedTable.Frames => ("frames", "received_at"),
        RetainedTable.HardFrames => ("hard_frames", "received_at"),
        RetainedTable.Verifications => ("verifications", "verified_at"),
        RetainedTable.Telemetry => ("telemetry", "received_at"),
        _ => throw new ArgumentOutOfRangeException(nameof(table), table, "not a retained table"),
    };

    /// <summary>Deletes at most <paramref name="batchSize"/> rows older than <paramref name="olderThan"/>; returns how many.</summary>
    public async Task<int> DeleteBatchAsync(RetainedTable table, DateTimeOffset olderThan, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var (name, column) = Describe(table);

        // ctid picks the physical rows found by the bounded scan; no key list has to travel to the client and back.
        var delete = $"DELETE FROM {name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {name} WHERE {column} < $1 LIMIT $2))";

        // detections has no foreign key to frames (it cost too much per box); a frame's boxes go in the same statement, and
        // the hourly rollup loses the boxes deleted (a row left at 0 stays; it is a few bytes per hour, device and class).
        await using var command = dataSource.CreateCommand(table == RetainedTable.Frames
            ? $"""
               WITH gone AS ({delete} RETURNING device_id, sequence),
                    boxes AS (DELETE FROM detections d USING gone g WHERE d.device_id = g.device_id AND d.sequence = g.sequence
                              RETURNING d.device_id, d.captured_at, d.class_id),
                    rolled AS (UPDATE detections_hourly h SET boxes = h.boxes - b.n
                               FROM (SELECT date_trunc('hour', captured_at, 'UTC') AS hour, device_id, class_id, count(*) AS n FROM boxes GROUP BY 1, 2, 3) b
                               WHERE h.hour = b.hour AND h.device_id = b.device_id AND h.class_id = b.class_id)
               SELECT count(*)::int FROM gone
               """
            : $"WITH gone AS ({delete} RETURNING 1) SELECT count(*)::int FROM gone");
        command.Parameters.AddWithValue(olderThan.UtcDateTime);
        command.Parameters.AddWithValue(batchSize);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Deletes batches until no old rows are left or <paramref name="maxBatches"/> ran (the caller comes back later);
    /// returns the rows deleted.
    /// </summary>
    public async Task<long> SweepAsync(
        RetainedTable table, DateTimeOffset olderThan, int batchSize, int maxBatches, CancellationToken cancellationToken = default)
    {
        long total = 0;
        for (var i = 0; i < maxBatches; i++)
        {
            var deleted = await DeleteBatchAsync(table, olderThan, batchSize, cancellationToken);
            total += deleted;
            if (deleted < batchSize)
            {
                break;
            }
        }

        return total;
    }
}
