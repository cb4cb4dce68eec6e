using System.Diagnostics;
using Npgsql;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cli.IngestBench;

/// <summary>
/// PostgreSQL's own speed for the rows the ingest path writes: binary COPY straight into copies of the frames and
/// detections tables (same columns, defaults and indexes; no staging, no de-duplication), written by the silo's own COPY
/// code (<see cref="FrameBatchWriter.CopyFramesAsync"/>); generating the rows is not timed. The ingest
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
        var copying = TimeSpan.Zero;

        // In batches like the silo's, each its own transaction, written by the silo's own COPY code, so the comparison is
        // about the path (MQTT, validation, staging, de-duplication), not batch size or client code.
        const int batchFrames = 2000;
        for (long first = 0; first < frames; first += batchFrames)
        {
            var count = (int)Math.Min(batchFrames, frames - first);
            var rows = new List<FrameRow>(count);
            for (var i = 0; i < count; i++)
            {
                var frame = first + i;
                var boxes = new DetectionRow[detectionsPerFrame];
                for (var box = 0; box < boxes.Length; box++)
                {
                    var x = random.NextSingle() * 1200;
                    var y = random.NextSingle() * 640;
                    boxes[box] = new DetectionRow((short)random.Next(80), 0.25f + (random.NextSingle() * 0.75f), x, y, x + 40, y + 40);
                }

                rows.Add(new FrameRow(DeviceOf(frame, devices), frame / devices, capturedAt, capturedAt, "bench-int8-1", 1280, 720, 40f, "bench", boxes));
            }

            var generated = clock.Elapsed;
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await FrameBatchWriter.CopyFramesAsync(connection, "bench_raw_frames", rows, cancellationToken);
            await FrameBatchWriter.CopyDetectionsAsync(connection, "bench_raw_detections", rows, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            copying += clock.Elapsed - generated;
        }

        var seconds = copying.TotalSeconds;
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
