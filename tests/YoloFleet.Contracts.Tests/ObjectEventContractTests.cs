using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts.Tests;

/// <summary>The object-event contract (topic <c>events</c>): a valid event round-trips, every broken field is refused by name.</summary>
[Trait("Category", "Scene")]
public sealed class ObjectEventContractTests
{
    [Fact]
    public void A_valid_event_round_trips_and_carries_its_sequence_for_the_commit_watermark()
    {
        var original = Valid();
        Assert.True(WireDecoder.TryDecodeObjectEvent("pi-1", Bytes(original), out var decoded, out var rejection), rejection?.ToString());
        Assert.Equal(original, decoded);
        Assert.True(WireDecoder.TryReadSequence("pi-1", Bytes(original), out var sequence));
        Assert.Equal(41UL, sequence);
        Assert.Equal("yolofleet/v1/devices/pi-1/events", Topics.ObjectEvents("pi-1"));
        Assert.Contains(Topics.ObjectEventsKind, Topics.UpstreamKinds);
        Assert.Equal(ProtocolLimits.MaxObjectEventPayloadBytes, ProtocolLimits.MaxPayloadBytes(Topics.ObjectEventsKind));
    }

    public static TheoryData<string, RejectReason, string> Broken => new()
    {
        { "version", RejectReason.UnsupportedSchema, "event_version" },
        { "kind", RejectReason.OutOfRange, "kind" },
        { "object", RejectReason.OutOfRange, "object_id" },
        { "start-revision", RejectReason.OutOfRange, "revision" },
        { "times", RejectReason.OutOfRange, "first_seen" },
        { "score", RejectReason.OutOfRange, "best_score" },
        { "zone-name", RejectReason.OutOfRange, "zones[0]" },
        { "zone-exit", RejectReason.OutOfRange, "zones[0]" },
        { "direction", RejectReason.OutOfRange, "lines[0]" },
        { "not-jpeg", RejectReason.Malformed, "best_crop_jpeg" },
        { "big-crop", RejectReason.Oversized, "best_crop_jpeg" },
        { "box", RejectReason.OutOfRange, "best_box" },
        { "sha", RejectReason.OutOfRange, "model_sha256" },
        { "device", RejectReason.DeviceMismatch, "device_id" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void A_broken_event_is_refused_with_a_reason_that_names_the_field(string broken, RejectReason reason, string field)
    {
        var message = Valid();
        switch (broken)
        {
            case "version": message.EventVersion = 2; break;
            case "kind": message.Kind = ObjectEventKind.Unspecified; break;
            case "object": message.ObjectId = 0; break;
            case "start-revision": message.Kind = ObjectEventKind.Started; message.Revision = 3; break;
            case "times": message.FirstSeenUnixMs = message.LastSeenUnixMs + 1; break;
            case "score": message.BestScore = float.NaN; break;
            case "zone-name": message.Zones[0].Zone = ""; break;
            case "zone-exit": message.Zones[0].ExitedUnixMs = message.Zones[0].EnteredUnixMs - 1; break;
            case "direction": message.Lines[0].Direction = "up"; break;
            case "not-jpeg": message.BestCropJpeg = ByteString.CopyFrom(1, 2, 3, 4); break;
            case "big-crop": message.BestCropJpeg = ByteString.CopyFrom(Jpeg(ProtocolLimits.MaxObjectCropBytes + 1)); break;
            case "box": message.BestBox.X2 = message.BestBox.X1 - 1; break;
            case "sha": message.ModelSha256 = "xyz"; break;
            case "device": message.Envelope.DeviceId = "pi-2"; break;
        }

        Assert.False(WireDecoder.TryDecodeObjectEvent("pi-1", Bytes(message), out _, out var rejection));
        Assert.Equal(reason, rejection!.Reason);
        Assert.Contains(field, rejection.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void An_event_over_the_payload_limit_is_refused_before_parsing()
    {
        Assert.False(WireDecoder.TryDecodeObjectEvent("pi-1", new ReadOnlySequence<byte>(new byte[ProtocolLimits.MaxObjectEventPayloadBytes + 1]), out _, out var rejection));
        Assert.Equal(RejectReason.Oversized, rejection!.Reason);
    }

    private static ObjectEventPublished Valid() => new()
    {
        Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-1", Sequence = 41, SentAtUnixMs = 1_700_000_000_500 },
        EventVersion = ObjectEvents.ContractVersion,
        Kind = ObjectEventKind.Updated,
        ObjectId = 7,
        Revision = 2,
        ClassId = 0,
        AtUnixMs = 1_700_000_000_400,
        FirstSeenUnixMs = 1_700_000_000_000,
        LastSeenUnixMs = 1_700_000_000_400,
        BestScore = 0.8f,
        Zones = { new ObjectZoneVisit { Zone = "entrance", EnteredUnixMs = 1_700_000_000_100, ExitedUnixMs = 0 } },
        Lines = { new ObjectLineCrossing { Line = "door", Direction = ObjectEvents.LeftToRight, AtUnixMs = 1_700_000_000_200 } },
        BestCropJpeg = ByteString.CopyFrom(Jpeg(100)),
        BestBox = new Detection { ClassId = 0, Score = 0.8f, X1 = 10, Y1 = 20, X2 = 50, Y2 = 120 },
        FrameWidth = 640,
        FrameHeight = 480,
        ModelVersion = "yolox_nano_416",
        ModelSha256 = new string('a', 64),
    };

    private static byte[] Jpeg(int length)
    {
        var bytes = new byte[length];
        bytes[0] = 0xFF;
        bytes[1] = 0xD8;
        return bytes;
    }

    private static ReadOnlySequence<byte> Bytes(IMessage message) => new(message.ToByteArray());
}
