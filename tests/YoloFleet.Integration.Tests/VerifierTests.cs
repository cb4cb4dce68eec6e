using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using YoloFleet.Cli;
using YoloFleet.Cloud.Data.Verification;
using YoloFleet.Cloud.Verification;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The FP32 verifier end to end with real models on a real coco128 image: a HardFrameUploaded message goes through the
/// broker and the silo, the verifier re-runs the cloud model on its JPEG, and a verification row lands in PostgreSQL.
/// </summary>
public sealed class VerifierTests : IClassFixture<PostgresDatabase>
{
    private readonly PostgresDatabase _database;

    public VerifierTests(PostgresDatabase database) => _database = database;

    public static TheoryData<string> Models => new() { "yolox_nano_416", "picodet_s_416" };

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_hard_frame_message_becomes_a_stored_verification(string model)
    {
        var modelPath = model == "yolox_nano_416" ? SharedData.YoloxNano416 : SharedData.PicoDetS416;
        await using var fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            extraSettings: [new("Cloud:Verifier:ModelPath", modelPath), new("Cloud:Verifier:Workers", "1")]);
        var device = "verify-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);

        // The edge's boxes: the same model's own output on a busy image, with its last box dropped and a copy of its
        // first box given a class the reference never saw. So exactly n-1 of n boxes match on each side.
        using var detector = Detector.Open(modelPath);
        var (imagePath, reference) = Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order()
            .Select(path =>
            {
                using var image = ImageFile.Read(path);
                return (Path: path, Boxes: detector.Detect(image));
            })
            .First(x => x.Boxes.Length >= 3);
        var n = reference.Length;
        var absentClass = Enumerable.Range(0, 80).First(c => reference.All(d => d.ClassId != c));
        var message = new HardFrameUploaded
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = 2, SentAtUnixMs = 1_700_000_000_000 },
            DetectionsSequence = 1,
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "edge-under-test@" + model,
            Jpeg = ByteString.CopyFrom(await File.ReadAllBytesAsync(imagePath)),
            Reason = "uncertain",
        };
        foreach (var d in reference[..^1].Append(reference[0] with { ClassId = absentClass }))
        {
            message.Detections.Add(new WireDetection { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 });
        }

        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();
        await client.PublishAsync(Topics.HardFrames(device), message.ToByteArray());

        var rows = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT verifier_model, edge_boxes, reference_boxes, matched, precision, recall, mean_iou FROM verifications WHERE device_id = '{device}'",
                r => (Verifier: r.GetString(0), Edge: r.GetInt32(1), Reference: r.GetInt32(2), Matched: r.GetInt32(3),
                      Precision: r.GetFloat(4), Recall: r.GetFloat(5), MeanIou: r.GetFloat(6))),
            r => r.Count > 0,
            TimeSpan.FromSeconds(60));
        var row = Assert.Single(rows);
        Assert.Equal(detector.Model.Version, row.Verifier);
        Assert.Equal((n, n, n - 1), (row.Edge, row.Reference, row.Matched));
        Assert.Equal((float)(n - 1) / n, row.Precision, 4);
        Assert.Equal((float)(n - 1) / n, row.Recall, 4);

        // Same engine, same pixels: the matched boxes are the same boxes.
        Assert.True(row.MeanIou > 0.99f, $"mean IoU {row.MeanIou}: the verifier's pre/post-processing differs from the edge's");

        var summary = await fleet.CloudServices.GetRequiredService<VerificationWriter>().SummarizeAsync();
        var mine = Assert.Single(summary, s => s.ModelVersion == message.ModelVersion);
        Assert.Equal((1L, (long)n - 1), (mine.Frames, mine.Matched));
        Assert.Equal(n - 1, mine.CalibrationBins.Sum(b => b.Pairs));
        Assert.All(mine.CalibrationBins.Where(b => b.Pairs > 0), b => Assert.Equal(b.MeanEdgeScore, b.MeanReferenceScore, 3));
        Assert.Equal(1, fleet.CloudServices.GetRequiredService<VerificationCounters>().Snapshot().Verified);
    }

    [Fact]
    public async Task A_shadow_disagreement_frame_is_judged_twice_one_verdict_per_model_with_its_hash()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            extraSettings: [new("Cloud:Verifier:ModelPath", SharedData.YoloxNano416), new("Cloud:Verifier:Workers", "1")]);
        var device = "shadow-v-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);

        // The live model's boxes are FP32's own (all match); the candidate's are those minus half (a regression).
        using var detector = Detector.Open(SharedData.YoloxNano416);
        var (imagePath, reference) = Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order()
            .Select(path =>
            {
                using var image = ImageFile.Read(path);
                return (Path: path, Boxes: detector.Detect(image));
            })
            .First(x => x.Boxes.Length >= 4);
        var (activeSha, candidateSha) = (new string('a', 64), new string('c', 64));
        var message = new HardFrameUploaded
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = 2, SentAtUnixMs = 1_700_000_000_000 },
            DetectionsSequence = 1,
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "active@1",
            ModelSha256 = activeSha,
            Jpeg = ByteString.CopyFrom(await File.ReadAllBytesAsync(imagePath)),
            Reason = "shadow-disagreement",
            ShadowModelSha256 = candidateSha,
            ShadowModelVersion = "candidate@2",
        };
        var kept = reference.Length / 2;
        message.Detections.AddRange(reference.Select(Wire));
        message.ShadowDetections.AddRange(reference.Take(kept).Select(Wire));

        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();
        await client.PublishAsync(Topics.HardFrames(device), message.ToByteArray());

        var rows = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT role, model_sha256, model_version, edge_boxes, reference_boxes, matched FROM verifications WHERE device_id = '{device}' ORDER BY role",
                r => (Role: r.GetString(0), Sha: r.GetString(1), Version: r.GetString(2), Edge: r.GetInt32(3), Reference: r.GetInt32(4), Matched: r.GetInt32(5))),
            r => r.Count >= 2,
            TimeSpan.FromSeconds(60));
        var n = reference.Length;
        Assert.Equal(("edge", activeSha, "active@1", n, n, n), rows[0]);
        Assert.Equal(("shadow", candidateSha, "candidate@2", kept, n, kept), rows[1]);

        // The frame's columns keep both models; the per-version summary counts the live verdicts only.
        var frame = Assert.Single(await _database.QueryAsync(
            $"SELECT model_sha256, shadow_model_sha256, jsonb_array_length(shadow_detections) FROM hard_frames WHERE device_id = '{device}'",
            r => (r.GetString(0), r.GetString(1), r.GetInt32(2))));
        Assert.Equal((activeSha, candidateSha, kept), frame);
        var summary = await fleet.CloudServices.GetRequiredService<VerificationWriter>().SummarizeAsync();
        Assert.Contains(summary, s => s.ModelVersion == "active@1");
        Assert.DoesNotContain(summary, s => s.ModelVersion == "candidate@2");

        static WireDetection Wire(YoloFleet.Inference.Detection d) =>
            new() { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 };
    }

    [Fact]
    public async Task A_full_queue_drops_and_counts_without_blocking_ingest()
    {
        // No model: the verifier is off and the queue takes nothing. With a model and capacity 1, the second frame waiting
        // is dropped and counted.
        var counters = new VerificationCounters();
        var off = new VerificationQueue(new VerifierOptions(), counters);
        Assert.False(off.TryEnqueue(Row(1)));

        var full = new VerificationQueue(new VerifierOptions { ModelPath = SharedData.YoloxNano416, QueueCapacity = 1 }, counters);
        Assert.True(full.TryEnqueue(Row(1)));
        Assert.False(full.TryEnqueue(Row(2)));
        Assert.Equal(1, counters.DroppedCount(VerificationDropReason.QueueFull));
        Assert.Equal(1, full.Depth);
        await Task.CompletedTask;
    }

    private static YoloFleet.Cloud.Data.Ingest.HardFrameRow Row(long sequence) =>
        new("q", sequence, sequence - 1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, "m", "sampled", new byte[] { 0xFF, 0xD8 }, []);
}
