using Google.Protobuf;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud.Data.Retention;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Integration.Tests.Infrastructure;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The detections_hourly rollup after real ingest (a silo, its broker, PostgreSQL): frames sent twice in a row and sent
/// again after they were stored count once, so the rollup equals both the boxes we sent (counted here) and a raw count of
/// the stored boxes; retention takes the boxes it deletes out of it.
/// </summary>
[Trait("Category", "Analytics")]
public sealed class AnalyticsRollupTests : IClassFixture<PostgresDatabase>
{
    private static readonly DateTimeOffset T0 = new(2026, 10, 5, 8, 40, 0, TimeSpan.Zero);
    private readonly PostgresDatabase _database;

    public AnalyticsRollupTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task The_rollup_counts_each_stored_box_once_through_duplicates_and_resends_and_retention_keeps_it_equal()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        string[] devices = ["roll-" + Guid.NewGuid().ToString("N")[..6], "roll-" + Guid.NewGuid().ToString("N")[..6]];
        foreach (var device in devices)
        {
            await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        }

        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        // 2 devices x 40 frames, 0-4 boxes of 3 classes each, captured over 3 hours (across hour boundaries).
        var random = new Random(21);
        var frames = new List<DetectionsPublished>();
        foreach (var device in devices)
        {
            for (ulong sequence = 1; sequence <= 40; sequence++)
            {
                var frame = Frame(device, sequence, T0.AddMinutes(random.Next(180)).AddSeconds(random.Next(60)));
                var boxes = random.Next(5);
                for (var b = 0; b < boxes; b++)
                {
                    frame.Detections.Add(new WireDetection { ClassId = (uint)(new[] { 0, 2, 16 }[random.Next(3)]), Score = 0.9f, X1 = 10, Y1 = 20, X2 = 110, Y2 = 220 });
                }

                frames.Add(frame);

                // Every fourth frame twice in a row: the copies may land in one batch or in two.
                await client.PublishAsync(Topics.Detections(device), frame.ToByteArray());
                if (sequence % 4 == 0)
                {
                    await client.PublishAsync(Topics.Detections(device), frame.ToByteArray());
                }
            }
        }

        Assert.Equal(frames.Count, await fleet.WaitForCommittedAsync(frames.Count, TimeSpan.FromMinutes(2), CancellationToken.None));

        // Then every third frame again, after it was stored (an outbox re-sending what it never saw confirmed).
        var resent = frames.Where(f => f.Envelope.Sequence % 3 == 0).ToList();
        foreach (var frame in resent)
        {
            await client.PublishAsync(Topics.Detections(frame.Envelope.DeviceId), frame.ToByteArray());
        }

        var stats = await Poll.UntilAsync(() => Task.FromResult(fleet.Counters.Snapshot()), s => s.Duplicates >= resent.Count + 20, TimeSpan.FromMinutes(2));
        Assert.Equal(frames.Count, stats.FramesCommitted);

        // What we sent, counted here: boxes per hour of capture, device and class.
        var sent = frames
            .SelectMany(f => f.Detections.Select(d => (Hour: Hour(DateTimeOffset.FromUnixTimeMilliseconds(f.CapturedAtUnixMs)), f.Envelope.DeviceId, Class: (int)d.ClassId)))
            .GroupBy(x => x).Select(g => (g.Key.Hour, g.Key.DeviceId, g.Key.Class, Boxes: (long)g.Count())).Order().ToList();
        Assert.True(sent.Select(s => s.Hour).Distinct().Count() >= 3, "the frames span at least three hours");
        Assert.Equal(sent, await RollupAsync(devices));
        Assert.Equal(sent, await RawAsync(devices));

        // Retention deletes frames (and their boxes) in bounded batches: after each, the rollup still equals the raw count.
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
        var sweeper = new RetentionSweeper(dataSource);
        var deleted = await sweeper.DeleteBatchAsync(RetainedTable.Frames, DateTimeOffset.UtcNow.AddMinutes(1), 25);
        Assert.Equal(25, deleted);
        var raw = await RawAsync(devices);
        Assert.True(raw.Sum(r => r.Boxes) < sent.Sum(s => s.Boxes), "the batch deleted some boxes");
        Assert.Equal(raw, await RollupAsync(devices));
        await sweeper.SweepAsync(RetainedTable.Frames, DateTimeOffset.UtcNow.AddMinutes(1), 25, maxBatches: 100);
        Assert.Empty(await RawAsync(devices));
        Assert.Empty(await RollupAsync(devices));
    }

    private Task<List<(DateTimeOffset Hour, string DeviceId, int Class, long Boxes)>> RollupAsync(string[] devices) => _database.QueryAsync(
        $"SELECT hour, device_id, class_id, boxes FROM detections_hourly WHERE device_id IN ('{devices[0]}', '{devices[1]}') AND boxes <> 0 ORDER BY 1, 2, 3",
        r => (r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), (int)r.GetInt16(2), r.GetInt64(3)));

    private Task<List<(DateTimeOffset Hour, string DeviceId, int Class, long Boxes)>> RawAsync(string[] devices) => _database.QueryAsync(
        $"""
        SELECT date_trunc('hour', captured_at, 'UTC'), device_id, class_id, count(*) FROM detections
        WHERE device_id IN ('{devices[0]}', '{devices[1]}') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        r => (r.GetFieldValue<DateTimeOffset>(0), r.GetString(1), (int)r.GetInt16(2), r.GetInt64(3)));

    private static DateTimeOffset Hour(DateTimeOffset at) => new(at.Year, at.Month, at.Day, at.Hour, 0, 0, TimeSpan.Zero);

    private static DetectionsPublished Frame(string device, ulong sequence, DateTimeOffset capturedAt) => new()
    {
        Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = capturedAt.ToUnixTimeMilliseconds() },
        CapturedAtUnixMs = capturedAt.ToUnixTimeMilliseconds(),
        ModelVersion = "roll@000000000000",
        FrameWidth = 640,
        FrameHeight = 480,
        InferenceMs = 12.5f,
        FrameRef = "frame.jpg",
    };
}
