using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts.Tests;

/// <summary>ModelAssignmentAcknowledged validation, and the SHA-256 fields the twin and latency comparisons rely on.</summary>
public sealed class AckDecoderTests
{
    private static readonly string Sha = new('a', 64);

    [Fact]
    public void A_benchmarked_ack_round_trips()
    {
        var ack = Valid();
        Assert.True(WireDecoder.TryDecodeAck("pi-1", Bytes(ack), out var decoded, out var rejection));
        Assert.Null(rejection);
        Assert.Equal(ack, decoded);
    }

    [Fact]
    public void A_refusal_with_its_reason_code_is_valid()
    {
        var ack = Valid();
        ack.Benchmarks.Clear();
        (ack.Stage, ack.Accepted, ack.ReasonCode, ack.Error) = (ModelAssignmentStages.Rejected, false, "bad-signature", "the signature does not match");
        Assert.True(WireDecoder.TryDecodeAck("pi-1", Bytes(ack), out _, out _));
    }

    [Theory]
    [InlineData("no-assignment")]
    [InlineData("assignment-with-slash")]
    [InlineData("unknown-stage")]
    [InlineData("accepted-refusal")]
    [InlineData("refused-progress")]
    [InlineData("reason-code-text")]
    [InlineData("long-error")]
    [InlineData("short-sha")]
    [InlineData("non-hex-active")]
    [InlineData("benchmark-precision")]
    [InlineData("benchmark-nan")]
    [InlineData("benchmark-no-runs")]
    [InlineData("benchmark-no-sha")]
    [InlineData("too-many-benchmarks")]
    public void Out_of_range_acks_are_refused(string field)
    {
        var ack = Valid();
        switch (field)
        {
            case "no-assignment": ack.AssignmentId = ""; break;
            case "assignment-with-slash": ack.AssignmentId = "a/b"; break;
            case "unknown-stage": ack.Stage = "installed"; break;
            case "accepted-refusal": ack.Stage = ModelAssignmentStages.Failed; break;
            case "refused-progress": ack.Accepted = false; break;
            case "reason-code-text": ack.ReasonCode = "two words"; break;
            case "long-error": ack.Error = new string('e', ProtocolLimits.MaxAckErrorLength + 1); break;
            case "short-sha": ack.Sha256 = "abc"; break;
            case "non-hex-active": ack.ActiveSha256 = new string('z', 64); break;
            case "benchmark-precision": ack.Benchmarks[0].Precision = "fp16"; break;
            case "benchmark-nan": ack.Benchmarks[0].P50Ms = float.NaN; break;
            case "benchmark-no-runs": ack.Benchmarks[0].Runs = 0; break;
            case "benchmark-no-sha": ack.Benchmarks[0].Sha256 = ""; break;
            case "too-many-benchmarks":
                for (var i = 0; i < ProtocolLimits.MaxBenchmarksPerAck; i++)
                {
                    ack.Benchmarks.Add(ack.Benchmarks[0]);
                }

                break;
        }

        Assert.False(WireDecoder.TryDecodeAck("pi-1", Bytes(ack), out _, out var rejection));
        Assert.Equal(RejectReason.OutOfRange, rejection?.Reason);
        Assert.False(string.IsNullOrWhiteSpace(rejection!.Detail));
    }

    [Fact]
    public void Envelope_size_and_garbage_checks_apply_to_acks_too()
    {
        var spoofed = Valid();
        spoofed.Envelope.DeviceId = "pi-2";
        Assert.False(WireDecoder.TryDecodeAck("pi-1", Bytes(spoofed), out _, out var mismatch));
        Assert.Equal(RejectReason.DeviceMismatch, mismatch?.Reason);

        Assert.False(WireDecoder.TryDecodeAck("pi-1", new ReadOnlySequence<byte>(new byte[ProtocolLimits.MaxAckPayloadBytes + 1]), out _, out var oversized));
        Assert.Equal(RejectReason.Oversized, oversized?.Reason);

        Assert.False(WireDecoder.TryDecodeAck("pi-1", new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF, 0x0F, 0x12]), out _, out var garbled));
        Assert.Equal(RejectReason.Malformed, garbled?.Reason);
    }

    [Fact]
    public void Model_hashes_on_detections_and_telemetry_are_empty_or_sha256()
    {
        var frame = new DetectionsPublished
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-1", Sequence = 7, SentAtUnixMs = 1_700_000_000_000 },
            CapturedAtUnixMs = 1_700_000_000_000,
            FrameWidth = 640,
            FrameHeight = 480,
            Throttled = true,
            ModelSha256 = Sha,
        };
        Assert.True(WireDecoder.TryDecodeDetections("pi-1", Bytes(frame), out var decoded, out _));
        Assert.Equal((true, Sha), (decoded.Throttled, decoded.ModelSha256));
        frame.ModelSha256 = "not-a-hash";
        Assert.False(WireDecoder.TryDecodeDetections("pi-1", Bytes(frame), out _, out var badFrame));
        Assert.Equal(RejectReason.OutOfRange, badFrame?.Reason);

        var telemetry = new TelemetryReported { Envelope = frame.Envelope, ActiveModelSha256 = Sha, CandidateModelSha256 = "" };
        Assert.True(WireDecoder.TryDecodeTelemetry("pi-1", Bytes(telemetry), out _, out _));
        telemetry.CandidateModelSha256 = Sha[..63];
        Assert.False(WireDecoder.TryDecodeTelemetry("pi-1", Bytes(telemetry), out _, out var badTelemetry));
        Assert.Equal(RejectReason.OutOfRange, badTelemetry?.Reason);
    }

    private static ReadOnlySequence<byte> Bytes(IMessage message) => new(message.ToByteArray());

    private static ModelAssignmentAcknowledged Valid()
    {
        var ack = new ModelAssignmentAcknowledged
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-1", Sequence = 9, SentAtUnixMs = 1_700_000_000_000 },
            AssignmentId = "asg-0123456789abcdef",
            Accepted = true,
            Stage = ModelAssignmentStages.Benchmarked,
            CpuFeatures = "avx2,avx512-vnni",
            ActiveSha256 = Sha,
        };
        ack.Benchmarks.Add(new VariantBenchmark { Sha256 = Sha, Precision = "fp32", P50Ms = 22.5f, P95Ms = 25f, Runs = 20 });
        ack.Benchmarks.Add(new VariantBenchmark { Sha256 = new string('b', 64), Precision = "int8", P50Ms = 30f, P95Ms = 33f, Runs = 20 });
        return ack;
    }
}
