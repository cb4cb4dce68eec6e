using System.Buffers;
using CsCheck;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Testing;

namespace YoloFleet.Contracts.Tests;

/// <summary>
/// Property-based fuzzing of every upstream decoder the cloud runs on a device's payload: thousands of random and
/// damaged inputs each. Whatever arrives, a decoder answers (accepted, or a rejection with a reason and a detail) and
/// never throws; what it accepts belongs to the topic's device and survives a round trip.
/// </summary>
[Trait("Category", "Security")]
public sealed class WireFuzzTests
{
    private const string Device = "pi-1";

    private delegate bool Decoder(string topicDeviceId, in ReadOnlySequence<byte> payload, out IMessage? message, out Rejection? rejection);

    public static TheoryData<string> Kinds => [.. Decoders.Keys];

    private static readonly Dictionary<string, (Decoder Decode, IMessage Seed)> Decoders = new(StringComparer.Ordinal)
    {
        [Topics.DetectionsKind] = (Wrap<DetectionsPublished>(WireDecoder.TryDecodeDetections), ValidDetections()),
        [Topics.DetectionsBatchKind] = (Wrap<DetectionsBatch>(DecodeBatchAndFrames), new DetectionsBatch { Frames = { ValidDetections(), ValidDetections(43) } }),
        [Topics.HardFramesKind] = (Wrap<HardFrameUploaded>(WireDecoder.TryDecodeHardFrame), ValidHardFrame()),
        [Topics.TelemetryKind] = (Wrap<TelemetryReported>(WireDecoder.TryDecodeTelemetry), ValidTelemetry()),
        [Topics.AckKind] = (Wrap<ModelAssignmentAcknowledged>(WireDecoder.TryDecodeAck), ValidAck()),
        [Topics.ObjectEventsKind] = (Wrap<ObjectEventPublished>(WireDecoder.TryDecodeObjectEvent), ValidObjectEvent()),
        [Topics.DeliveryKind] = (Wrap<DeliveryReported>(WireDecoder.TryDecodeDelivery), ValidDelivery()),
        [Topics.ShadowKind] = (Wrap<ShadowReported>(WireDecoder.TryDecodeShadow), ValidShadow()),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void The_seed_is_valid_so_that_damaging_it_reaches_past_the_parser(string kind)
    {
        var (decode, seed) = Decoders[kind];
        Assert.True(decode(Device, new ReadOnlySequence<byte>(seed.ToByteArray()), out _, out var rejection), rejection?.Detail);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Random_and_damaged_payloads_are_answered_never_thrown(string kind)
    {
        var (decode, seed) = Decoders[kind];
        var accepted = 0;
        var rejected = 0;
        FuzzInputs.NoiseOrDamaged(seed.ToByteArray()).Sample(
            bytes =>
            {
                if (decode(Device, new ReadOnlySequence<byte>(bytes), out var message, out var rejection))
                {
                    Assert.Null(rejection);
                    Assert.NotNull(message);
                    AssertOwnedAndStable(message, decode);
                    accepted++;
                }
                else
                {
                    Assert.NotNull(rejection);
                    Assert.False(string.IsNullOrWhiteSpace(rejection.Detail));
                    rejected++;
                }
            },
            iter: FuzzInputs.Iterations,
            threads: 1);

        // Both outcomes were reached: the inputs were neither all noise nor all harmless.
        Assert.True(rejected > 0, "nothing was rejected");
        Assert.True(accepted > 0, "nothing was accepted: the damage never left a message intact enough to check");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_payload_for_another_device_is_never_accepted(string kind)
    {
        var (decode, seed) = Decoders[kind];
        FuzzInputs.Damaged(seed.ToByteArray()).Sample(
            bytes => Assert.False(decode("pi-2", new ReadOnlySequence<byte>(bytes), out _, out _), "a message for pi-1 was accepted on pi-2's topic"),
            iter: FuzzInputs.Iterations / 4,
            threads: 1);
    }

    private static void AssertOwnedAndStable(IMessage message, Decoder decode)
    {
        var frames = message is DetectionsBatch batch ? batch.Frames.Cast<IMessage>() : [message];
        foreach (var frame in frames)
        {
            var envelope = (Envelope)frame.Descriptor.FindFieldByName("envelope").Accessor.GetValue(frame);
            Assert.Equal(Device, envelope.DeviceId);
        }

        // What was accepted once is accepted again as the same message.
        Assert.True(decode(Device, new ReadOnlySequence<byte>(message.ToByteArray()), out var again, out var rejection), rejection?.Detail);
        Assert.Equal(message, again);
    }

    private delegate bool TypedDecoder<T>(string topicDeviceId, in ReadOnlySequence<byte> payload, out T message, out Rejection? rejection);

    private static Decoder Wrap<T>(TypedDecoder<T> typed)
        where T : IMessage =>
        (string device, in ReadOnlySequence<byte> payload, out IMessage? message, out Rejection? rejection) =>
        {
            var ok = typed(device, payload, out var decoded, out rejection);
            message = ok ? decoded : null;
            return ok;
        };

    /// <summary>As the cloud takes a batch: the batch's checks, then each frame's (a frame failing them is not stored).</summary>
    private static bool DecodeBatchAndFrames(string device, in ReadOnlySequence<byte> payload, out DetectionsBatch batch, out Rejection? rejection)
    {
        if (!WireDecoder.TryDecodeDetectionsBatch(device, payload, out batch, out rejection))
        {
            return false;
        }

        rejection = batch.Frames.Select(f => WireDecoder.CheckBatchedFrame(f, device)).FirstOrDefault(r => r is not null);
        return rejection is null;
    }

    private static Envelope Envelope(ulong sequence) =>
        new() { SchemaVersion = SchemaVersions.Current, DeviceId = Device, Sequence = sequence, SentAtUnixMs = 1_700_000_000_000 };

    private static Detection Box(uint classId = 0) => new() { ClassId = classId, Score = 0.87f, X1 = 1.5f, Y1 = 187.2f, X2 = 612.3f, Y2 = 473.9f };

    private static DetectionsPublished ValidDetections(ulong sequence = 42) => new()
    {
        Envelope = Envelope(sequence),
        CapturedAtUnixMs = 1_700_000_000_000,
        ModelVersion = "yolox_nano_416@e8af074932d4",
        FrameWidth = 640,
        FrameHeight = 480,
        InferenceMs = 21.5f,
        FrameRef = "000000000009.jpg",
        Detections = { Box(45), Box(0) },
    };

    private static HardFrameUploaded ValidHardFrame() => new()
    {
        Envelope = Envelope(44),
        DetectionsSequence = 42,
        CapturedAtUnixMs = 1_700_000_000_000,
        ModelVersion = "yolox_nano_416",
        Jpeg = ByteString.CopyFrom([0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0x4A, 0x46, 0x49, 0x46, 0, 1, 0xFF, 0xD9]),
        Detections = { Box() },
        Reason = "uncertain",
        ModelSha256 = new string('a', 64),
    };

    private static TelemetryReported ValidTelemetry() => new()
    {
        Envelope = Envelope(45),
        FramesPerSecond = 9.5f,
        Stages = { new StageLatency { Stage = "inference", P50Ms = 20, P95Ms = 25 } },
        CpuPercent = 55,
        RssMb = 180,
        TemperatureC = 61.5f,
        OutboxDepth = 3,
        ModelVersion = "yolox_nano_416",
        ActiveModelSha256 = new string('a', 64),
    };

    private static ModelAssignmentAcknowledged ValidAck() => new()
    {
        Envelope = Envelope(46),
        AssignmentId = "asg-0123456789abcdef",
        Accepted = true,
        Stage = ModelAssignmentStages.Benchmarked,
        CpuFeatures = "avx2",
        ActiveSha256 = new string('a', 64),
        Benchmarks = { new VariantBenchmark { Sha256 = new string('a', 64), Precision = "fp32", P50Ms = 22.5f, P95Ms = 25f, Runs = 20 } },
    };

    private static ObjectEventPublished ValidObjectEvent() => new()
    {
        Envelope = Envelope(47),
        EventVersion = ObjectEvents.ContractVersion,
        Kind = ObjectEventKind.Updated,
        ObjectId = 7,
        Revision = 2,
        AtUnixMs = 1_700_000_000_400,
        FirstSeenUnixMs = 1_700_000_000_000,
        LastSeenUnixMs = 1_700_000_000_400,
        BestScore = 0.8f,
        Zones = { new ObjectZoneVisit { Zone = "entrance", EnteredUnixMs = 1_700_000_000_100 } },
        Lines = { new ObjectLineCrossing { Line = "door", Direction = ObjectEvents.LeftToRight, AtUnixMs = 1_700_000_000_200 } },
        BestBox = Box(),
        FrameWidth = 640,
        FrameHeight = 480,
        ModelVersion = "yolox_nano_416",
        ModelSha256 = new string('a', 64),
    };

    private static DeliveryReported ValidDelivery() => new()
    {
        Envelope = Envelope(48),
        Dropped = { new DroppedRange { First = 3, Last = 9, Reason = DeliveryDropReasons.Budget, Messages = 7 } },
    };

    private static ShadowReported ValidShadow() => new()
    {
        Envelope = Envelope(49),
        ActiveSha256 = new string('a', 64),
        CandidateSha256 = new string('b', 64),
        WindowStartUnixMs = 1_700_000_000_000,
        WindowEndUnixMs = 1_700_000_060_000,
        Frames = 600,
        ShadowedFrames = 120,
        Matched = 300,
        OnlyActive = 12,
        OnlyCandidate = 9,
        ActiveP50Ms = 20,
        ActiveP95Ms = 25,
        CandidateP50Ms = 18,
        CandidateP95Ms = 22,
        ShadowCpuShare = 0.2f,
    };
}
