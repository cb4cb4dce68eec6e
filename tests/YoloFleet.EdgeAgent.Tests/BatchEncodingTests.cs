using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Outbox;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class BatchEncodingTests
{
    [Fact]
    public void Stored_frames_concatenate_into_the_bytes_protobuf_writes_for_the_same_batch()
    {
        var frames = Enumerable.Range(1, 3).Select(Frame).ToList();
        var stored = frames
            .Select(f => new OutboxMessage(f.Envelope.Sequence, Topics.DetectionsKind, DateTimeOffset.UnixEpoch, f.ToByteArray()))
            .ToList();

        var encoded = OutboxPublisher.EncodeBatch(stored);

        var expected = new DetectionsBatch();
        expected.Frames.Add(frames);
        Assert.Equal(expected.ToByteArray(), encoded);
        Assert.Equal(frames, DetectionsBatch.Parser.ParseFrom(encoded).Frames);
        Assert.True(WireDecoder.TryDecodeDetectionsBatch("pi-1", new(encoded), out var decoded, out _));
        Assert.All(decoded.Frames, f => Assert.Null(WireDecoder.CheckBatchedFrame(f, "pi-1")));
    }

    private static DetectionsPublished Frame(int sequence)
    {
        var message = new DetectionsPublished
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-1", Sequence = (ulong)sequence, SentAtUnixMs = 1_700_000_000_000 },
            CapturedAtUnixMs = 1_700_000_000_000 + sequence,
            ModelVersion = "m@1",
            FrameWidth = 640,
            FrameHeight = 480,
            FrameRef = $"{sequence}.jpg",
        };
        for (var i = 0; i < sequence * 3; i++)
        {
            message.Detections.Add(new Detection { ClassId = (uint)i, Score = 0.5f, X1 = i, Y1 = i, X2 = i + 10, Y2 = i + 20 });
        }

        return message;
    }
}
