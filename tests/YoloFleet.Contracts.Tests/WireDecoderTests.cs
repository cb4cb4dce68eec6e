using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts.Tests;

public sealed class WireDecoderTests
{
    [Fact]
    public void A_valid_message_round_trips()
    {
        var original = Valid();
        Assert.True(WireDecoder.TryDecodeDetections("pi-1", Bytes(original), out var decoded, out var rejection));
        Assert.Null(rejection);
        Assert.Equal(original, decoded);
    }

    [Fact]
    public void Encoding_is_compact()
    {
        var message = Valid();
        for (var i = 0; i < 9; i++)
        {
            message.Detections.Add(message.Detections[0]);
        }

        // Ten boxes: a JSON encoding of the same is several times larger.
        Assert.True(message.CalculateSize() < 400, $"10 boxes took {message.CalculateSize()} bytes");
    }

    [Fact]
    public void Garbage_is_malformed()
    {
        AssertRejected(new byte[] { 0xFF, 0xFF, 0xFF, 0x0F, 0x12 }, RejectReason.Malformed);
    }

    [Fact]
    public void A_missing_envelope_is_malformed()
    {
        var message = Valid();
        message.Envelope = null;
        AssertRejected(message.ToByteArray(), RejectReason.Malformed);
    }

    [Fact]
    public void Oversized_payloads_are_refused_before_parsing()
    {
        AssertRejected(new byte[ProtocolLimits.MaxDetectionsPayloadBytes + 1], RejectReason.Oversized);
    }

    [Fact]
    public void Unknown_schema_versions_are_refused()
    {
        var message = Valid();
        message.Envelope.SchemaVersion = 2;
        AssertRejected(message.ToByteArray(), RejectReason.UnsupportedSchema);
    }

    [Fact]
    public void The_envelope_device_must_match_the_topic()
    {
        var message = Valid();
        message.Envelope.DeviceId = "pi-2";
        AssertRejected(message.ToByteArray(), RejectReason.DeviceMismatch);
    }

    [Theory]
    [InlineData("score")]
    [InlineData("nan-box")]
    [InlineData("inverted-box")]
    [InlineData("sequence-zero")]
    [InlineData("frame-size")]
    [InlineData("too-many")]
    public void Out_of_range_fields_are_refused(string field)
    {
        var message = Valid();
        switch (field)
        {
            case "score": message.Detections[0].Score = 1.5f; break;
            case "nan-box": message.Detections[0].X1 = float.NaN; break;
            case "inverted-box": message.Detections[0].X2 = message.Detections[0].X1 - 1; break;
            case "sequence-zero": message.Envelope.Sequence = 0; break;
            case "frame-size": message.FrameWidth = 0; break;
            case "too-many":
                for (var i = 0; i < ProtocolLimits.MaxDetectionsPerFrame; i++)
                {
                    message.Detections.Add(message.Detections[0]);
                }

                break;
        }

        AssertRejected(message.ToByteArray(), RejectReason.OutOfRange);
    }

    [Fact]
    public void A_hard_frame_must_carry_a_jpeg()
    {
        var frame = new HardFrameUploaded
        {
            Envelope = Valid().Envelope,
            Jpeg = ByteString.CopyFrom([0x89, 0x50, 0x4E, 0x47]),
        };
        Assert.False(WireDecoder.TryDecodeHardFrame("pi-1", Bytes(frame), out _, out var rejection));
        Assert.Equal(RejectReason.Malformed, rejection!.Reason);

        frame.Jpeg = ByteString.CopyFrom([0xFF, 0xD8, 0xFF, 0xE0, 0x00]);
        Assert.True(WireDecoder.TryDecodeHardFrame("pi-1", Bytes(frame), out _, out _));
    }

    [Fact]
    public void A_hard_frames_shadow_half_is_all_there_or_refused()
    {
        HardFrameUploaded Frame() => new()
        {
            Envelope = Valid().Envelope,
            Jpeg = ByteString.CopyFrom([0xFF, 0xD8, 0xFF, 0xE0, 0x00]),
            ModelSha256 = new string('a', 64),
            ShadowModelSha256 = new string('b', 64),
            ShadowModelVersion = "candidate@2",
            ShadowDetections = { new Detection { ClassId = 1, Score = 0.5f, X1 = 1, Y1 = 1, X2 = 5, Y2 = 5 } },
        };
        Assert.True(WireDecoder.TryDecodeHardFrame("pi-1", Bytes(Frame()), out var decoded, out _));
        Assert.Single(decoded.ShadowDetections);

        var noHash = Frame();
        noHash.ShadowModelSha256 = "";
        var badHash = Frame();
        badHash.ShadowModelSha256 = "not-hex";
        var badBox = Frame();
        badBox.ShadowDetections[0].Score = 2;
        var badEdgeHash = Frame();
        badEdgeHash.ModelSha256 = new string('z', 64);
        foreach (var bad in new[] { noHash, badHash, badBox, badEdgeHash })
        {
            Assert.False(WireDecoder.TryDecodeHardFrame("pi-1", Bytes(bad), out _, out var rejection));
            Assert.Equal(RejectReason.OutOfRange, rejection!.Reason);
        }
    }

    [Fact]
    public void A_batch_decodes_and_each_frame_gets_the_lone_message_checks()
    {
        var second = Valid();
        second.Envelope.Sequence = 43;
        var spoofed = Valid();
        spoofed.Envelope.DeviceId = "pi-2";
        var batch = new DetectionsBatch();
        batch.Frames.Add([Valid(), second, spoofed]);

        Assert.True(WireDecoder.TryDecodeDetectionsBatch("pi-1", Bytes(batch), out var decoded, out var rejection));
        Assert.Null(rejection);
        Assert.Equal([42UL, 43UL, 42UL], decoded.Frames.Select(f => f.Envelope.Sequence));
        Assert.Null(WireDecoder.CheckBatchedFrame(decoded.Frames[0], "pi-1"));
        Assert.Null(WireDecoder.CheckBatchedFrame(decoded.Frames[1], "pi-1"));
        Assert.Equal(RejectReason.DeviceMismatch, WireDecoder.CheckBatchedFrame(decoded.Frames[2], "pi-1")?.Reason);
    }

    [Fact]
    public void A_batched_frame_over_the_lone_frame_limit_is_oversized()
    {
        var big = Valid();
        big.FrameRef = "";
        while (big.CalculateSize() <= ProtocolLimits.MaxDetectionsPayloadBytes)
        {
            big.Detections.Add(big.Detections[0]);
        }

        Assert.Equal(RejectReason.Oversized, WireDecoder.CheckBatchedFrame(big, "pi-1")?.Reason);
    }

    [Theory]
    [InlineData(0, RejectReason.OutOfRange)]
    [InlineData(ProtocolLimits.MaxFramesPerBatch + 1, RejectReason.OutOfRange)]
    public void A_batch_needs_one_to_the_limit_of_frames(int frames, RejectReason reason)
    {
        var batch = new DetectionsBatch();
        batch.Frames.Add(Enumerable.Range(0, frames).Select(_ => Valid()));
        Assert.False(WireDecoder.TryDecodeDetectionsBatch("pi-1", Bytes(batch), out _, out var rejection));
        Assert.Equal(reason, rejection?.Reason);
    }

    [Fact]
    public void An_oversized_or_garbled_batch_is_refused_before_its_frames_are_read()
    {
        Assert.False(WireDecoder.TryDecodeDetectionsBatch(
            "pi-1", new ReadOnlySequence<byte>(new byte[ProtocolLimits.MaxDetectionsBatchPayloadBytes + 1]), out _, out var oversized));
        Assert.Equal(RejectReason.Oversized, oversized?.Reason);
        Assert.False(WireDecoder.TryDecodeDetectionsBatch("pi-1", new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF, 0x0F, 0x12]), out _, out var garbled));
        Assert.Equal(RejectReason.Malformed, garbled?.Reason);
    }

    [Fact]
    public void A_shadow_window_with_consistent_figures_is_accepted_and_one_that_contradicts_itself_is_refused()
    {
        ShadowReported Window() => new()
        {
            Envelope = Valid().Envelope,
            ActiveSha256 = new string('a', 64),
            CandidateSha256 = new string('b', 64),
            WindowStartUnixMs = 1_000,
            WindowEndUnixMs = 61_000,
            Frames = 100,
            ShadowedFrames = 20,
            SkippedForBudget = 5,
            Matched = 40,
            OnlyActive = 3,
            OnlyCandidate = 4,
            ActiveP50Ms = 20,
            ActiveP95Ms = 25,
            CandidateP50Ms = 30,
            CandidateP95Ms = 36,
            ThrottledFrames = 2,
            ShadowCpuShare = 0.2f,
        };
        Assert.True(WireDecoder.TryDecodeShadow("pi-1", Bytes(Window()), out var decoded, out _));
        Assert.Equal((20u, 40u), (decoded.ShadowedFrames, decoded.Matched));

        var noCandidate = Window();
        noCandidate.CandidateSha256 = "";
        var badHash = Window();
        badHash.ActiveSha256 = new string('z', 64);
        var backwards = Window();
        backwards.WindowEndUnixMs = 0;
        var tooMany = Window();
        tooMany.ShadowedFrames = 99;
        var throttled = Window();
        throttled.ThrottledFrames = 21;
        var nan = Window();
        nan.CandidateP95Ms = float.NaN;
        var share = Window();
        share.ShadowCpuShare = 1.5f;
        foreach (var bad in new[] { noCandidate, badHash, backwards, tooMany, throttled, nan, share })
        {
            Assert.False(WireDecoder.TryDecodeShadow("pi-1", Bytes(bad), out _, out var rejection));
            Assert.Equal(RejectReason.OutOfRange, rejection!.Reason);
        }

        Assert.False(WireDecoder.TryDecodeShadow("pi-2", Bytes(Window()), out _, out var other));
        Assert.NotEqual(RejectReason.OutOfRange, other!.Reason);
    }

    private static void AssertRejected(byte[] payload, RejectReason reason)
    {
        Assert.False(WireDecoder.TryDecodeDetections("pi-1", new ReadOnlySequence<byte>(payload), out _, out var rejection));
        Assert.NotNull(rejection);
        Assert.Equal(reason, rejection.Reason);
        Assert.False(string.IsNullOrWhiteSpace(rejection.Detail));
    }

    private static ReadOnlySequence<byte> Bytes(IMessage message) => new(message.ToByteArray());

    private static DetectionsPublished Valid()
    {
        var message = new DetectionsPublished
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-1", Sequence = 42, SentAtUnixMs = 1_700_000_000_000 },
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "yolox_nano_416@e8af074932d4",
            FrameWidth = 640,
            FrameHeight = 480,
            InferenceMs = 21.5f,
            FrameRef = "000000000009.jpg",
        };
        message.Detections.Add(new Detection { ClassId = 45, Score = 0.87f, X1 = 1.5f, Y1 = 187.2f, X2 = 612.3f, Y2 = 473.9f });
        return message;
    }
}
