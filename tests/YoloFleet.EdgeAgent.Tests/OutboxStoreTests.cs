using System.Text;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.EdgeAgent.Outbox;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class OutboxStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-outbox-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Messages_come_out_in_order_with_their_payloads_until_acknowledged()
    {
        using var outbox = Open();
        for (ulong s = 1; s <= 5; s++)
        {
            outbox.Append(s, "detections", Payload(s));
        }

        Assert.Equal(5, outbox.Depth);
        var read = ReadAll(outbox);
        Assert.Equal([1UL, 2, 3, 4, 5], read.Select(m => m.Sequence));
        Assert.All(read, m => Assert.Equal(Payload(m.Sequence), m.Payload));
        Assert.All(read, m => Assert.Equal("detections", m.Kind));
        Assert.Null(outbox.TryReadNext());

        outbox.Acknowledge(3);
        Assert.Equal(2, outbox.Depth);
        outbox.Rewind();
        Assert.Equal([4UL, 5], ReadAll(outbox).Select(m => m.Sequence));
    }

    [Fact]
    public void Unacknowledged_messages_survive_a_restart()
    {
        using (var outbox = Open())
        {
            for (ulong s = 1; s <= 100; s++)
            {
                outbox.Append(s, "detections", Payload(s));
            }

            for (ulong s = 1; s <= 40; s++)
            {
                outbox.Acknowledge(s);
            }
        }

        using var reopened = Open();
        Assert.Equal(60, reopened.Depth);
        var read = ReadAll(reopened);
        Assert.Equal(41UL, read[0].Sequence);
        Assert.Equal(100UL, read[^1].Sequence);
        Assert.Equal(60, read.Count);
    }

    [Fact]
    public void A_process_killed_without_dispose_loses_nothing_appended()
    {
        // No Dispose: like SIGKILL. Written records are in the page cache, so a new instance reads them all.
        var outbox = Open(fsync: FsyncPolicy.Never);
        for (ulong s = 1; s <= 50; s++)
        {
            outbox.Append(s, "telemetry", Payload(s));
        }

        using var reopened = Open();
        Assert.Equal(50, reopened.Depth);
        Assert.Equal(50, ReadAll(reopened).Count);
    }

    [Fact]
    public void A_torn_record_at_the_end_is_cut_off_and_the_rest_kept()
    {
        using (var outbox = Open())
        {
            for (ulong s = 1; s <= 10; s++)
            {
                outbox.Append(s, "detections", Payload(s));
            }
        }

        var segment = Directory.GetFiles(_directory, "*.seg").Single();
        File.AppendAllText(segment, "half a record");
        using var reopened = Open();
        Assert.Equal(10, reopened.Depth);
        Assert.Equal(10, ReadAll(reopened).Count);
        reopened.Append(11, "detections", Payload(11));
        reopened.Rewind();
        Assert.Equal(11UL, ReadAll(reopened)[^1].Sequence);
    }

    [Fact]
    public void A_full_outbox_evicts_the_oldest_segment_and_counts_what_it_dropped()
    {
        using var outbox = Open(maxBytes: 4096, segmentBytes: 1024);
        for (ulong s = 1; s <= 200; s++)
        {
            outbox.Append(s, "detections", new byte[50]);
        }

        Assert.True(outbox.BytesOnDisk <= 4096 + 1024, $"{outbox.BytesOnDisk} bytes on disk");
        Assert.True(outbox.Evicted > 0);
        Assert.Equal(200, outbox.Evicted + outbox.Depth);
        var read = ReadAll(outbox);
        Assert.Equal(outbox.Depth, read.Count);
        Assert.Equal(200UL, read[^1].Sequence);
        Assert.Equal((ulong)outbox.Evicted + 1, read[0].Sequence);
    }

    [Fact]
    public void Messages_older_than_the_age_bound_are_evicted()
    {
        // Eviction works in whole segments; with one record per segment the count is exact.
        using var outbox = Open(maxAge: TimeSpan.FromHours(1), segmentBytes: 64);
        for (ulong s = 1; s <= 10; s++)
        {
            outbox.Append(s, "detections", new byte[40]);
        }

        _time.Advance(TimeSpan.FromHours(2));
        outbox.Append(11, "detections", new byte[40]);
        Assert.Equal(10, outbox.Evicted);
        Assert.Equal(1, outbox.Depth);
        Assert.Equal([11UL], ReadAll(outbox).Select(m => m.Sequence));
    }

    [Fact]
    public void Fully_acknowledged_segments_are_deleted()
    {
        using var outbox = Open(segmentBytes: 256);
        for (ulong s = 1; s <= 30; s++)
        {
            outbox.Append(s, "detections", new byte[40]);
        }

        var before = Directory.GetFiles(_directory, "*.seg").Length;
        Assert.True(before > 3);
        for (ulong s = 1; s <= 30; s++)
        {
            outbox.Acknowledge(s);
        }

        Assert.Single(Directory.GetFiles(_directory, "*.seg"));
        Assert.Equal(0, outbox.Depth);
        Assert.Null(outbox.TryReadNext());
    }

    [Fact]
    public void Sequences_must_increase()
    {
        using var outbox = Open();
        outbox.Append(5, "detections", Payload(5));
        Assert.Throws<ArgumentException>(() => outbox.Append(5, "detections", Payload(5)));
        Assert.Throws<ArgumentException>(() => outbox.Append(4, "detections", Payload(4)));
    }

    [Fact]
    public async Task Appending_wakes_a_waiting_reader()
    {
        using var outbox = Open();
        var changed = outbox.WaitForChangeAsync(CancellationToken.None);
        Assert.False(changed.IsCompleted);
        outbox.Append(1, "detections", Payload(1));
        await changed.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Concurrent_writers_get_numbers_that_enter_the_outbox_in_order()
    {
        // The pipeline and the telemetry reporter write at the same time; numbering and appending must be one step.
        using var outbox = Open();
        var writer = new UpstreamWriter(
            new EdgeAgentOptions { DeviceId = "pi-01" }, new YoloFleet.EdgeAgent.Publishing.SequenceCounter(Path.Combine(_directory, "seq")), outbox, _time);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                var message = new YoloFleet.Contracts.Wire.TelemetryReported();
                writer.Append("telemetry", message, envelope => message.Envelope = envelope);
            }
        })));

        var read = ReadAll(outbox);
        Assert.Equal(2000, read.Count);
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => (ulong)i), read.Select(m => m.Sequence));
    }

    private OutboxStore Open(long maxBytes = 64 * 1024 * 1024, long segmentBytes = 1024 * 1024, TimeSpan? maxAge = null, FsyncPolicy fsync = FsyncPolicy.Interval) =>
        new(_directory, new OutboxOptions { MaxBytes = maxBytes, SegmentBytes = segmentBytes, MaxAge = maxAge ?? TimeSpan.FromDays(7), Fsync = fsync }, _time);

    private static byte[] Payload(ulong sequence) => Encoding.UTF8.GetBytes($"message {sequence}");

    private static List<OutboxMessage> ReadAll(OutboxStore outbox)
    {
        var list = new List<OutboxMessage>();
        while (outbox.TryReadNext() is { } message)
        {
            list.Add(message);
        }

        return list;
    }
}
