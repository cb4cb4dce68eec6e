using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cli.AnalyticsBench;

/// <summary>How much the seeder wrote, per table.</summary>
internal sealed record SeededVolume(long Detections, long Frames, long HardFrames, long Verifications, long Telemetry, int Devices, double Seconds);

/// <summary>
/// Fills a migrated fleet database with a synthetic week of a fleet, in time order as ingest writes it: frames of 0–10 boxes
/// (5 on average) across the devices, 2 % of frames hard, 90 % of those verified, one telemetry report per device per 10
/// frames. Frames and boxes go through the silo's own binary COPY code; the smaller tables through Npgsql's importer.
/// </summary>
internal static class AnalyticsSeeder
{
    public static readonly TimeSpan Span = TimeSpan.FromDays(7);

    public static readonly string[] Models = ["yolox_nano_416@1", "yolox_nano_416@2", "picodet_s_320@1"];

    private const int BatchFrames = 20_000;

    public static async Task<SeededVolume> SeedAsync(string database, long detections, DateTimeOffset end, TextWriter progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var devices = (int)Math.Clamp(detections / 2_000, 2, 200);
        var random = new Random(20261207);
        var frames = Math.Max(1, detections / 5);
        var start = end - Span;
        var step = Span / frames;
        var shas = Models.Select(m => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(m)))).ToArray();

        await using var dataSource = NpgsqlDataSource.Create(database);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await SeedDevicesAsync(connection, devices, end, cancellationToken);

        var hardFrames = new List<(string Device, long Sequence, DateTimeOffset At, int Model)>();
        var telemetry = new List<(string Device, long Sequence, DateTimeOffset At, int Model, bool Throttled, long Backlog)>();
        long written = 0, frameCount = 0;
        var nextReport = clock.Elapsed + TimeSpan.FromSeconds(5);
        for (long first = 0; first < frames && written < detections; first += BatchFrames)
        {
            var batch = new List<FrameRow>(BatchFrames);
            for (var i = first; i < Math.Min(first + BatchFrames, frames) && written < detections; i++)
            {
                var device = (int)(i % devices);
                var sequence = i / devices;
                var at = start + (step * i);
                var model = device % Models.Length;
                var throttled = device % 20 == 0;
                var boxes = new DetectionRow[(int)Math.Min(i == frames - 1 ? detections - written : random.Next(11), detections - written)];
                for (var b = 0; b < boxes.Length; b++)
                {
                    // A skewed class mix, as street cameras see: mostly people and cars.
                    var classId = (short)(random.NextDouble() < 0.6 ? random.Next(3) : random.Next(80));
                    var x = random.NextSingle() * 600;
                    var y = random.NextSingle() * 400;
                    boxes[b] = new DetectionRow(classId, 0.25f + (random.NextSingle() * 0.75f), x, y, x + 40, y + 80);
                }

                written += boxes.Length;
                var inferenceMs = (float)((20 + (model * 8) + (device % 7)) * (throttled ? 1.6 : 1) * (1 + (0.3 * -Math.Log(1 - random.NextDouble()))));
                batch.Add(new FrameRow(DeviceId(device), sequence, at, at, Models[model], 640, 480, inferenceMs, $"bench/{device}/{sequence}", boxes, throttled, shas[model]));
                if (random.NextDouble() < 0.02)
                {
                    hardFrames.Add((DeviceId(device), sequence, at, model));
                }

                if (sequence % 10 == 0)
                {
                    telemetry.Add((DeviceId(device), sequence, at, model, throttled, device % 10 == 3 ? 500 + random.Next(5_000) : random.Next(20)));
                }
            }

            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                await FrameBatchWriter.CopyFramesAsync(connection, "frames", batch, cancellationToken);
                await FrameBatchWriter.CopyDetectionsAsync(connection, "detections", batch, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }

            frameCount += batch.Count;
            if (clock.Elapsed >= nextReport)
            {
                nextReport = clock.Elapsed + TimeSpan.FromSeconds(5);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"  seeding: {written:N0} of {detections:N0} detections ({written * 100.0 / detections:0}%), {frameCount:N0} frames, {clock.Elapsed.TotalSeconds:0} s"));
            }
        }

        var verified = await SeedHardFramesAsync(connection, hardFrames, shas, random, cancellationToken);
        await SeedTelemetryAsync(connection, telemetry, shas, cancellationToken);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  seeded {written:N0} detections, {frameCount:N0} frames, {hardFrames.Count:N0} hard frames, {verified:N0} verifications, {telemetry.Count:N0} telemetry reports in {clock.Elapsed.TotalSeconds:0} s; VACUUM ANALYZE"));
        await using (var vacuum = new NpgsqlCommand("VACUUM ANALYZE", connection) { CommandTimeout = 0 })
        {
            await vacuum.ExecuteNonQueryAsync(cancellationToken);
        }

        return new SeededVolume(written, frameCount, hardFrames.Count, verified, telemetry.Count, devices, clock.Elapsed.TotalSeconds);
    }

    public static string DeviceId(int device) => "bench-" + device.ToString("D4", CultureInfo.InvariantCulture);

    private static async Task SeedDevicesAsync(NpgsqlConnection connection, int devices, DateTimeOffset end, CancellationToken cancellationToken)
    {
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY devices (device_id, display_name, status, device_group, registered_at, first_seen_at, last_seen_at) FROM STDIN (FORMAT BINARY)", cancellationToken);
        for (var device = 0; device < devices; device++)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(DeviceId(device), NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync("", NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync("active", NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync("bench", NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync((end - Span).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync((end - Span).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);

            // One device in ten went quiet two hours ago.
            await importer.WriteAsync((device % 10 == 7 ? end.AddHours(-2) : end).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }

    private static async Task<long> SeedHardFramesAsync(
        NpgsqlConnection connection, List<(string Device, long Sequence, DateTimeOffset At, int Model)> hardFrames, string[] shas, Random random, CancellationToken cancellationToken)
    {
        var jpeg = new byte[] { 0xFF, 0xD8, 0xFF, 0xD9 };
        await using (var importer = await connection.BeginBinaryImportAsync(
            "COPY hard_frames (device_id, sequence, detections_sequence, captured_at, received_at, model_version, reason, jpeg, edge_detections, model_sha256) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            foreach (var (device, sequence, at, model) in hardFrames)
            {
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(device, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(sequence, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(sequence, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(Models[model], NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync("low-confidence", NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(jpeg, NpgsqlDbType.Bytea, cancellationToken);
                await importer.WriteAsync("[]", NpgsqlDbType.Jsonb, cancellationToken);
                await importer.WriteAsync(shas[model], NpgsqlDbType.Text, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        long verified = 0;
        await using (var importer = await connection.BeginBinaryImportAsync(
            "COPY verifications (device_id, sequence, role, model_sha256, model_version, verifier_model, captured_at, verified_at, edge_boxes, reference_boxes, matched, " +
            "precision, recall, mean_iou, missed_classes, calibration_count, calibration_edge_sum, calibration_reference_sum, verify_ms) FROM STDIN (FORMAT BINARY)",
            cancellationToken))
        {
            foreach (var (device, sequence, at, model) in hardFrames)
            {
                if (random.NextDouble() >= 0.9)
                {
                    continue;
                }

                var reference = random.Next(1, 12);
                var edge = Math.Max(0, reference + random.Next(-3, 3));
                var matched = Math.Min(edge, Math.Max(0, reference - random.Next(0, 3 + model)));
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(device, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(sequence, NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync("edge", NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(shas[model], NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(Models[model], NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync("yolox_nano_416 fp32", NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(at.AddSeconds(2).UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
                await importer.WriteAsync(edge, NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(reference, NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(matched, NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(edge == 0 ? 1f : (float)matched / edge, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync((float)matched / reference, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(0.8f, NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(Array.Empty<int>(), NpgsqlDbType.Array | NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(Array.Empty<int>(), NpgsqlDbType.Array | NpgsqlDbType.Integer, cancellationToken);
                await importer.WriteAsync(Array.Empty<float>(), NpgsqlDbType.Array | NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(Array.Empty<float>(), NpgsqlDbType.Array | NpgsqlDbType.Real, cancellationToken);
                await importer.WriteAsync(30f, NpgsqlDbType.Real, cancellationToken);
                verified++;
            }

            await importer.CompleteAsync(cancellationToken);
        }

        return verified;
    }

    private static async Task SeedTelemetryAsync(
        NpgsqlConnection connection, List<(string Device, long Sequence, DateTimeOffset At, int Model, bool Throttled, long Backlog)> telemetry, string[] shas,
        CancellationToken cancellationToken)
    {
        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY telemetry (device_id, sequence, sent_at, received_at, frames_per_second, cpu_percent, rss_mb, outbox_depth, outbox_evicted, frames_dropped, " +
            "source_failures, source_error, model_version, stages, active_model_sha256, candidate_model_sha256, throttled) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var (device, sequence, at, model, throttled, backlog) in telemetry)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(device, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(sequence, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken);
            await importer.WriteAsync(10f, NpgsqlDbType.Real, cancellationToken);
            await importer.WriteAsync(60f, NpgsqlDbType.Real, cancellationToken);
            await importer.WriteAsync(180f, NpgsqlDbType.Real, cancellationToken);
            await importer.WriteAsync(backlog, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(0L, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(0L, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(0L, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync("", NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(Models[model], NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync("[]", NpgsqlDbType.Jsonb, cancellationToken);
            await importer.WriteAsync(shas[model], NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync("", NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(throttled, NpgsqlDbType.Boolean, cancellationToken);
        }

        await importer.CompleteAsync(cancellationToken);
    }
}
