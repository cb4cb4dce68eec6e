using Google.Protobuf;
using YoloFleet.Cli;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>Malformed and oversized payloads on a detections topic are counted and dropped; the silo keeps serving.</summary>
public sealed class BadInputTests : IClassFixture<PostgresDatabase>
{
    private readonly PostgresDatabase _database;

    public BadInputTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Bad_payloads_are_counted_by_reason_and_dropped_while_valid_ones_are_stored()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        const string device = "bad-input-01";
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        var topic = Topics.Detections(device);
        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        await client.PublishAsync(topic, [0xFF, 0xFF, 0xFF, 0x0F, 0x12]);                       // not protobuf
        await client.PublishAsync(topic, new byte[ProtocolLimits.MaxDetectionsPayloadBytes + 1]); // oversized
        await client.PublishAsync(topic, Valid(device, 1, schema: 99).ToByteArray());           // future schema
        await client.PublishAsync(topic, Valid("someone-else", 1).ToByteArray());               // spoofed device
        var badScore = Valid(device, 1);
        badScore.Detections[0].Score = 7f;
        await client.PublishAsync(topic, badScore.ToByteArray());                               // out of range
        await client.PublishAsync(topic, Valid(device, 1).ToByteArray());                       // valid
        await client.PublishAsync(topic, Valid(device, 2).ToByteArray());                       // valid
        await client.PublishAsync(topic, Valid(device, 2).ToByteArray());                       // duplicate

        var committed = await fleet.WaitForCommittedAsync(2, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(2, committed);
        await Poll.UntilAsync(() => Task.FromResult(fleet.Counters.Snapshot().Duplicates), n => n >= 1, TimeSpan.FromSeconds(10));

        var counters = fleet.Counters;
        Assert.Equal(1, counters.RejectedCount(RejectReason.Malformed));
        Assert.Equal(1, counters.RejectedCount(RejectReason.Oversized));
        Assert.Equal(1, counters.RejectedCount(RejectReason.UnsupportedSchema));
        Assert.Equal(1, counters.RejectedCount(RejectReason.DeviceMismatch));
        Assert.Equal(1, counters.RejectedCount(RejectReason.OutOfRange));
        Assert.Equal(1, counters.Snapshot().Duplicates);

        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' ORDER BY sequence", r => r.GetInt64(0));
        Assert.Equal([1L, 2L], stored);

        // Still serving after all that.
        await client.PublishAsync(topic, Valid(device, 3).ToByteArray());
        Assert.Equal(3, await fleet.WaitForCommittedAsync(3, TimeSpan.FromSeconds(30), CancellationToken.None));
    }

    [Fact]
    public async Task A_batch_stores_its_valid_frames_and_counts_each_bad_one_while_a_bad_batch_is_dropped_whole()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        const string device = "bad-batch-01";
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        var topic = Topics.DetectionsBatch(device);
        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        var badScore = Valid(device, 12);
        badScore.Detections[0].Score = 2f;
        var mixed = new DetectionsBatch();
        mixed.Frames.Add([Valid(device, 10), Valid(device, 11), badScore, Valid("someone-else", 13), Valid(device, 14)]);
        await client.PublishAsync(topic, mixed.ToByteArray());
        await client.PublishAsync(topic, [0xFF, 0xFF, 0xFF, 0x0F, 0x12]);                                        // not protobuf
        await client.PublishAsync(topic, new byte[ProtocolLimits.MaxDetectionsBatchPayloadBytes + 1]);           // oversized
        await client.PublishAsync(topic, new DetectionsBatch().ToByteArray());                                    // empty
        var tooMany = new DetectionsBatch();
        tooMany.Frames.Add(Enumerable.Range(100, ProtocolLimits.MaxFramesPerBatch + 1).Select(s => Valid(device, (ulong)s)));
        await client.PublishAsync(topic, tooMany.ToByteArray());                                                 // too many frames
        var redelivered = new DetectionsBatch();
        redelivered.Frames.Add([Valid(device, 14), Valid(device, 15)]);
        await client.PublishAsync(topic, redelivered.ToByteArray());                                             // 14 again, 15 new

        Assert.Equal(4, await fleet.WaitForCommittedAsync(4, TimeSpan.FromSeconds(30), CancellationToken.None));
        await Poll.UntilAsync(() => Task.FromResult(fleet.Counters.Snapshot().Duplicates), n => n >= 1, TimeSpan.FromSeconds(10));

        var counters = fleet.Counters;
        Assert.Equal(1, counters.RejectedCount(RejectReason.Malformed));
        Assert.Equal(1, counters.RejectedCount(RejectReason.Oversized));
        Assert.Equal(1, counters.RejectedCount(RejectReason.DeviceMismatch));
        Assert.Equal(3, counters.RejectedCount(RejectReason.OutOfRange)); // the bad score, the empty batch, the oversized count
        Assert.Equal(1, counters.Snapshot().Duplicates);
        Assert.Equal(6, counters.Snapshot().ReceivedByKind[Topics.DetectionsBatchKind]);

        var stored = await _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' ORDER BY sequence", r => r.GetInt64(0));
        Assert.Equal([10L, 11L, 14L, 15L], stored);
        var boxes = await _database.QueryAsync($"SELECT count(*) FROM detections WHERE device_id = '{device}'", r => r.GetInt64(0));
        Assert.Equal([4L], boxes);
    }

    private static DetectionsPublished Valid(string device, ulong sequence, uint schema = SchemaVersions.Current)
    {
        var message = new DetectionsPublished
        {
            Envelope = new Envelope { SchemaVersion = schema, DeviceId = device, Sequence = sequence, SentAtUnixMs = 1_700_000_000_000 },
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "test@000000000000",
            FrameWidth = 640,
            FrameHeight = 480,
            InferenceMs = 12.5f,
            FrameRef = "frame.jpg",
        };
        message.Detections.Add(new Detection { ClassId = 0, Score = 0.9f, X1 = 10, Y1 = 20, X2 = 110, Y2 = 220 });
        return message;
    }
}
