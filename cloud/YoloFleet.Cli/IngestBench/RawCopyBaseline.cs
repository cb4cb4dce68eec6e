using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;

namespace YoloFleet.Cli.IngestBench;

/// <summary>
/// PostgreSQL's own speed for the rows the ingest path writes: binary COPY straight into copies of the frames and
/// detections tables (same columns, defaults and indexes; no foreign keys, no staging, no de-duplication). The ingest
/// rate divided by this is how close the whole MQTT-to-commit path comes to the database's limit.
/// </summary>
internal static class RawCopyBaseline
{
    /// <summary>COPYs <paramref name="frames"/> frames of <paramref name="detectionsPerFrame"/> boxes; returns detection rows per second.</summary>
    public static async Task<double> MeasureAsync(string database, long frames, int detectionsPerFrame, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(database);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, """
            DROP TABLE IF EXISTS bench_raw_detections, bench_raw_frames;
            CREATE TABLE bench_raw_frames (LIKE frames INCLUDING ALL);
            CREATE TABLE bench_raw_detections (LIKE detections INCLUDING ALL);
            """, cancellationToken);

        var random = new Random(7);
        var capturedAt = DateTimeOffset.UtcNow;
        const int devices = 1000;
        var clock = Stopwatch.StartNew();

        // In batches like the silo's, each its own transaction, written the same way (synchronous Write per field), so
        // the comparison is about the path, not batch size or client API.
        const int batchFrames = 2000;
        for (long first = 0; first < frames; first += batchFrames)
        {
            var count = (int)Math.Min(batchFrames, frames - first);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var writer = await connection.BeginBinaryImportAsync(
                "COPY bench_raw_frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count) FROM STDIN (FORMAT BINARY)",
                cancellationToken))
            {
                for (var i = 0; i < count; i++)
                {
                    var frame = first + i;
                    writer.StartRow();
                    writer.Write(DeviceOf(frame, devices), NpgsqlDbType.Text);
                    writer.Write(frame / devices, NpgsqlDbType.Bigint);
                    writer.Write(capturedAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write(capturedAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write("bench-int8-1", NpgsqlDbType.Text);
                    writer.Write(1280, NpgsqlDbType.Integer);
                    writer.Write(720, NpgsqlDbType.Integer);
                    writer.Write(40f, NpgsqlDbType.Real);
                    writer.Write("bench", NpgsqlDbType.Text);
                    writer.Write(detectionsPerFrame, NpgsqlDbType.Integer);
                }

                await writer.CompleteAsync(cancellationToken);
            }

            await using (var writer = await connection.BeginBinaryImportAsync(
                "COPY bench_raw_detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2) FROM STDIN (FORMAT BINARY)",
                cancellationToken))
            {
                for (var i = 0; i < count; i++)
                {
                    var frame = first + i;
                    var device = DeviceOf(frame, devices);
                    for (short box = 0; box < detectionsPerFrame; box++)
                    {
                        var x = random.NextSingle() * 1200;
                        var y = random.NextSingle() * 640;
                        writer.StartRow();
                        writer.Write(device, NpgsqlDbType.Text);
                        writer.Write(frame / devices, NpgsqlDbType.Bigint);
                        writer.Write(box, NpgsqlDbType.Smallint);
                        writer.Write(capturedAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                        writer.Write((short)random.Next(80), NpgsqlDbType.Smallint);
                        writer.Write(0.25f + (random.NextSingle() * 0.75f), NpgsqlDbType.Real);
                        writer.Write(x, NpgsqlDbType.Real);
                        writer.Write(y, NpgsqlDbType.Real);
                        writer.Write(x + 40, NpgsqlDbType.Real);
                        writer.Write(y + 40, NpgsqlDbType.Real);
                    }
                }

                await writer.CompleteAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        await ExecuteAsync(connection, "DROP TABLE bench_raw_detections, bench_raw_frames;", cancellationToken);
        return frames * detectionsPerFrame / seconds;
    }

    private static string DeviceOf(long frame, int devices) => FleetSimulator.DeviceId((int)(frame % devices));

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
