using Npgsql;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>The batch writer against the real PostgreSQL: every column comes back as written, and a redelivery is skipped.</summary>
public sealed class FrameBatchWriterTests : IClassFixture<PostgresDatabase>
{
    private readonly PostgresDatabase _database;

    public FrameBatchWriterTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Every_column_of_frames_and_boxes_reads_back_exactly_and_a_repeat_is_a_duplicate()
    {
        var device = "bcw-" + Guid.NewGuid().ToString("N")[..6] + "-é";
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
        await new DeviceDirectory(dataSource).RegisterAsync(device, "");
        var captured = new DateTimeOffset(2026, 11, 23, 21, 55, 1, 123, TimeSpan.FromHours(2)).AddTicks(4560); // 123.456 ms
        var received = new DateTimeOffset(1999, 12, 31, 23, 59, 59, 999, TimeSpan.Zero);                      // before PostgreSQL's epoch
        var boxes = new DetectionRow[]
        {
            new(0, 0.25f, 1.5f, -2.25f, 640.125f, 480f),
            new(short.MaxValue, 1f, float.Epsilon, 0f, 3.4e38f, 1e-7f),
        };
        var frames = new[]
        {
            new FrameRow(device, 1, captured, received, "model-ü@1", 1280, 720, 12.75f, "folder/0001.jpg", boxes),
            new FrameRow(device, long.MaxValue, captured, received, "", 1, 16384, 0f, new string('x', 256), []),
        };
        var writer = new FrameBatchWriter(dataSource);

        var first = await writer.WriteAsync(frames);
        var again = await writer.WriteAsync([frames[0]]);

        Assert.Equal([(device, 1L), (device, long.MaxValue)], first.Inserted.OrderBy(i => i.Sequence));
        Assert.Equal(2, first.DetectionsInserted);
        Assert.Equal((0, 1, 0L), (again.Inserted.Count, again.Duplicates, again.DetectionsInserted));

        var storedFrames = await _database.QueryAsync(
            $"SELECT sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count FROM frames WHERE device_id = '{device}' ORDER BY sequence",
            r => (r.GetInt64(0), r.GetFieldValue<DateTimeOffset>(1), r.GetFieldValue<DateTimeOffset>(2), r.GetString(3), r.GetInt32(4), r.GetInt32(5), r.GetFloat(6), r.GetString(7), r.GetInt32(8)));
        Assert.Equal(
            [
                (1L, captured.ToUniversalTime(), received, "model-ü@1", 1280, 720, 12.75f, "folder/0001.jpg", 2),
                (long.MaxValue, captured.ToUniversalTime(), received, "", 1, 16384, 0f, new string('x', 256), 0),
            ],
            storedFrames);

        var storedBoxes = await _database.QueryAsync(
            $"SELECT sequence, idx, captured_at, class_id, score, x1, y1, x2, y2 FROM detections WHERE device_id = '{device}' ORDER BY idx",
            r => (r.GetInt64(0), r.GetInt16(1), r.GetFieldValue<DateTimeOffset>(2), new DetectionRow(r.GetInt16(3), r.GetFloat(4), r.GetFloat(5), r.GetFloat(6), r.GetFloat(7), r.GetFloat(8))));
        Assert.Equal([(1L, (short)0, captured.ToUniversalTime(), boxes[0]), (1L, (short)1, captured.ToUniversalTime(), boxes[1])], storedBoxes);
    }
}
