using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts.Tests;

/// <summary>DeliveryReported validation, the envelope peek behind refusal confirmations, and range arithmetic.</summary>
public sealed class DeliveryContractTests
{
    [Fact]
    public void A_valid_delivery_report_decodes()
    {
        var report = Report(50, (1, 10, DeliveryDropReasons.Budget, 10), (12, 20, DeliveryDropReasons.NotHeld, 0));
        Assert.True(WireDecoder.TryDecodeDelivery("pi-1", Bytes(report), out var decoded, out var rejection), rejection?.ToString());
        Assert.Equal(report, decoded);
    }

    [Theory]
    [InlineData(0UL, 5UL, "budget", 1UL)]
    [InlineData(6UL, 5UL, "budget", 1UL)]
    [InlineData(1UL, 50UL, "budget", 1UL)]
    [InlineData(1UL, 5UL, "lost", 1UL)]
    [InlineData(1UL, 5UL, "", 1UL)]
    [InlineData(1UL, 5UL, "age", 6UL)]
    public void A_bad_range_is_out_of_range(ulong first, ulong last, string reason, ulong messages)
    {
        var report = Report(50, (first, last, reason, messages));
        Assert.False(WireDecoder.TryDecodeDelivery("pi-1", Bytes(report), out _, out var rejection));
        Assert.Equal(RejectReason.OutOfRange, rejection!.Reason);
    }

    [Fact]
    public void Reports_are_bounded_in_ranges_and_bytes()
    {
        Assert.Equal(RejectReason.OutOfRange, Rejection(Report(10_000)));
        var tooMany = Report(10_000, [.. Enumerable.Range(0, ProtocolLimits.MaxDroppedRangesPerReport + 1).Select(i => ((ulong)(2 * i) + 1, (ulong)(2 * i) + 1, DeliveryDropReasons.Age, 1UL))]);
        Assert.Equal(RejectReason.OutOfRange, Rejection(tooMany));
        var padded = Report(10_000, (1, 1, DeliveryDropReasons.Age, 1));
        padded.Envelope.DeviceId = new string('x', ProtocolLimits.MaxDeliveryPayloadBytes);
        Assert.Equal(RejectReason.Oversized, Rejection(padded));
        var other = Report(10, (1, 1, DeliveryDropReasons.Age, 1));
        other.Envelope.DeviceId = "pi-2";
        Assert.Equal(RejectReason.DeviceMismatch, Rejection(other));
    }

    [Fact]
    public void The_sequence_of_any_enveloped_message_is_read_without_parsing_the_rest()
    {
        var detections = new DetectionsPublished { Envelope = Envelope("pi-1", 77), FrameWidth = 99_999 };
        Assert.True(WireDecoder.TryReadSequence("pi-1", Bytes(detections), out var sequence));
        Assert.Equal(77UL, sequence);

        // Even when the rest is garbage or the payload too large for its kind: the envelope comes first.
        var bytes = detections.ToByteArray().Concat(new byte[] { 0xFF, 0xFF, 0xFF }).Concat(new byte[300_000]).ToArray();
        Assert.True(WireDecoder.TryReadSequence("pi-1", new ReadOnlySequence<byte>(bytes), out sequence));
        Assert.Equal(77UL, sequence);

        Assert.False(WireDecoder.TryReadSequence("pi-2", Bytes(detections), out _));
        Assert.False(WireDecoder.TryReadSequence("pi-1", Bytes(new DetectionsPublished { FrameWidth = 5 }), out _));
        Assert.False(WireDecoder.TryReadSequence("pi-1", Bytes(new TelemetryReported { Envelope = Envelope("pi-1", 0) }), out _));
        Assert.False(WireDecoder.TryReadSequence("pi-1", new ReadOnlySequence<byte>([0x0A, 0x80]), out _));
        Assert.False(WireDecoder.TryReadSequence("pi-1", ReadOnlySequence<byte>.Empty, out _));
        var future = new HardFrameUploaded { Envelope = Envelope("pi-1", 5) };
        future.Envelope.SchemaVersion = 2;
        Assert.False(WireDecoder.TryReadSequence("pi-1", Bytes(future), out _));
    }

    [Fact]
    public void A_range_set_merges_adjacent_numbers_and_splits_on_removal()
    {
        var set = new SequenceRangeSet();
        foreach (var n in new ulong[] { 1, 2, 3, 7, 5, 6, 10 })
        {
            set.Add(n);
        }

        Assert.Equal([(1UL, 3UL), (5UL, 7UL), (10UL, 10UL)], set.Ranges);
        Assert.Equal(7UL, set.Count);
        Assert.Equal(1UL, set.Add(3, 5));
        Assert.Equal([(1UL, 7UL), (10UL, 10UL)], set.Ranges);
        Assert.True(set.Contains(4));
        Assert.False(set.Contains(8));

        Assert.Equal(3UL, set.Remove(3, 5));
        Assert.Equal([(1UL, 2UL), (6UL, 7UL), (10UL, 10UL)], set.Ranges);
        Assert.Equal(4UL, set.RemoveUpTo(7));
        Assert.Equal([(10UL, 10UL)], set.Ranges);
        Assert.Equal(1UL, set.Count);

        set.Add(20, 30);
        Assert.Equal([(10UL, 10UL), (20UL, 25UL)], set.Within(5, 25));
        Assert.Equal([new SequenceRange { First = 10, Last = 10 }], set.ToProto(1));
    }

    [Fact]
    public void A_range_set_agrees_with_a_plain_set_under_random_operations()
    {
        var random = new Random(20);
        var set = new SequenceRangeSet();
        var plain = new SortedSet<ulong>();
        for (var i = 0; i < 5000; i++)
        {
            var first = (ulong)random.Next(1, 400);
            var last = first + (ulong)random.Next(0, 12);
            if (random.Next(3) == 0)
            {
                var removed = set.Remove(first, last);
                Assert.Equal((ulong)plain.RemoveWhere(n => n >= first && n <= last), removed);
            }
            else
            {
                var before = plain.Count;
                for (var n = first; n <= last; n++)
                {
                    plain.Add(n);
                }

                Assert.Equal((ulong)(plain.Count - before), set.Add(first, last));
            }

            Assert.Equal((ulong)plain.Count, set.Count);
        }

        Assert.Equal(plain, set.Ranges.SelectMany(r => Enumerable.Range((int)r.First, (int)(r.Last - r.First + 1)).Select(n => (ulong)n)));
        for (var i = 1; i < set.Ranges.Count; i++)
        {
            Assert.True(set.Ranges[i].First > set.Ranges[i - 1].Last + 1, "ranges must be disjoint and not adjacent");
        }
    }

    private static DeliveryReported Report(ulong sequence, params (ulong First, ulong Last, string Reason, ulong Messages)[] ranges)
    {
        var report = new DeliveryReported { Envelope = Envelope("pi-1", sequence) };
        report.Dropped.AddRange(ranges.Select(r => new DroppedRange { First = r.First, Last = r.Last, Reason = r.Reason, Messages = r.Messages }));
        return report;
    }

    private static Envelope Envelope(string device, ulong sequence) =>
        new() { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = 1 };

    private static RejectReason Rejection(DeliveryReported report)
    {
        Assert.False(WireDecoder.TryDecodeDelivery("pi-1", Bytes(report), out _, out var rejection));
        return rejection!.Reason;
    }

    private static ReadOnlySequence<byte> Bytes(IMessage message) => new(message.ToByteArray());
}
