using YoloFleet.Cli;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The walking skeleton end to end: a real edge agent runs yolox_nano on 10 coco128 images and publishes over a real
/// broker; a real Orleans silo ingests into a real PostgreSQL. Every message is stored exactly once, with the boxes the
/// edge computed.
/// </summary>
public sealed class EndToEndTests : IClassFixture<PostgresDatabase>
{
    private const int Frames = 10;
    private readonly PostgresDatabase _database;

    public EndToEndTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Ten_frames_reach_postgres_exactly_once_through_the_embedded_broker()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        await RunAndVerifyAsync(fleet, "e2e-embedded");
    }

    // A mosquitto of the test's own: every share group gets every device's messages, so on the shared broker the silo
    // would also see other tests' devices (unregistered here) and count them as refused.
    [Fact]
    public async Task Ten_frames_reach_postgres_exactly_once_through_mosquitto()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        try
        {
            await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, broker.Endpoint);
            await RunAndVerifyAsync(fleet, "e2e-mosquitto-" + Guid.NewGuid().ToString("N")[..6]);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_stopped_silo_leaves_the_shared_subscription_so_the_next_one_gets_every_message()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        try
        {
            await RunAfterACleanExitAsync(broker.Endpoint);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private async Task RunAfterACleanExitAsync((string Host, int Port) mosquitto)
    {
        // Both silos join the same share group. Without a clean exit, the first one's persistent session would stay in
        // the group and hoard every other message.
        var group = "share-" + Guid.NewGuid().ToString("N")[..8];
        await using (await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, mosquitto, clusterId: group))
        {
        }

        await using var fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, mosquitto, clusterId: group);
        await RunAndVerifyAsync(fleet, "e2e-share-" + Guid.NewGuid().ToString("N")[..6]);
    }

    private async Task RunAndVerifyAsync(LocalFleet fleet, string deviceId)
    {
        var published = new List<DetectionsPublished>();
        await fleet.RunAgentAsync(deviceId, SharedData.YoloxNano416, SharedData.Coco128Images, Frames, m =>
        {
            published.Add(m);
            return Task.CompletedTask;
        }, CancellationToken.None);

        Assert.Equal(Frames, published.Count);

        // One counter per device across its topics: hard frames take numbers between the frames.
        var sequences = published.Select(m => m.Envelope.Sequence).ToList();
        Assert.Equal(1UL, sequences[0]);
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(sequences.Count, sequences.Distinct().Count());

        await Poll.UntilAsync(
            async () => (await _database.QueryAsync($"SELECT count(*) FROM frames WHERE device_id = '{deviceId}'", r => r.GetInt64(0))).Single(),
            count => count >= Frames,
            TimeSpan.FromSeconds(30));

        var frames = await _database.QueryAsync(
            $"SELECT sequence, detection_count, frame_ref, model_version FROM frames WHERE device_id = '{deviceId}' ORDER BY sequence",
            r => (Sequence: r.GetInt64(0), Count: r.GetInt32(1), Ref: r.GetString(2), Model: r.GetString(3)));
        Assert.Equal(published.Select(m => (long)m.Envelope.Sequence), frames.Select(f => f.Sequence));

        // The stored boxes equal the edge's own output for the same images, computed here independently.
        using var detector = Detector.Open(SharedData.YoloxNano416);
        var totalBoxes = 0;
        foreach (var (message, frame) in published.Zip(frames))
        {
            Assert.Equal(message.FrameRef, frame.Ref);
            Assert.Equal(detector.Model.Version, frame.Model);
            using var image = ImageFile.Read(Path.Combine(SharedData.Coco128Images, message.FrameRef));
            var expected = detector.Detect(image);
            var stored = await _database.QueryAsync(
                $"SELECT class_id, score, x1, y1, x2, y2 FROM detections WHERE device_id = '{deviceId}' AND sequence = {frame.Sequence} ORDER BY idx",
                r => new YoloFleet.Inference.Detection(r.GetInt16(0), r.GetFloat(1), r.GetFloat(2), r.GetFloat(3), r.GetFloat(4), r.GetFloat(5)));
            Assert.Equal(expected.Length, frame.Count);
            Assert.Equal(expected, stored);
            totalBoxes += stored.Count;
        }

        Assert.True(totalBoxes > Frames, $"yolox_nano should find objects in coco128; it found {totalBoxes} boxes in {Frames} images");
        var duplicates = await _database.QueryAsync(
            $"SELECT count(*) - count(DISTINCT (device_id, sequence)) FROM frames WHERE device_id = '{deviceId}'", r => r.GetInt64(0));
        Assert.Equal(0, duplicates.Single());

        // Uncertain frames also went up as hard frames (JPEG + the edge's boxes), and passed the cloud's validation.
        var stats = fleet.Counters.Snapshot();
        Assert.True(stats.ReceivedByKind.GetValueOrDefault("hardframes") >= 1, "no hard frame reached the cloud");
        Assert.Empty(stats.RejectedByReason);

        var device = await Poll.UntilAsync(() => fleet.GetDeviceAsync(deviceId), d => d.Frames == Frames && d.MissingSequences == 0, TimeSpan.FromSeconds(10));

        Assert.Equal(Frames, device.Frames);
        Assert.True(device.HighestSequence >= (long)sequences[^1]);
        Assert.Equal(0, device.MissingSequences);
        Assert.Equal(0, device.Duplicates);
    }
}
