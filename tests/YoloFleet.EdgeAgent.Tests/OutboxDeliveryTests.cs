using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>The outbox keeps every message until the cloud settles it (docs/protocol.md, "End-to-end delivery").</summary>
public sealed class OutboxDeliveryTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-delivery-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Out_of_order_confirmations_raise_the_floor_only_over_a_settled_run()
    {
        using var outbox = Open();
        Append(outbox, 1, 10);

        Assert.Equal(4UL, outbox.Confirm(4, 6) + outbox.Confirm(8, 8));
        Assert.Equal(0UL, outbox.Acknowledged);
        Assert.Equal(6, outbox.Depth);

        outbox.Confirm(1, 3);
        Assert.Equal(6UL, outbox.Acknowledged);
        Assert.Equal(3, outbox.Depth);

        outbox.Confirm(7, 7);
        Assert.Equal(8UL, outbox.Acknowledged);
        outbox.Rewind();
        Assert.Equal([9UL, 10], ReadAll(outbox).Select(m => m.Sequence));

        // Confirming again, or numbers it never held, changes nothing.
        Assert.Equal(0UL, outbox.Confirm(1, 8));
        Assert.Equal(0UL, outbox.Confirm(100, 200));
        Assert.Equal(2, outbox.Depth);
    }

    [Fact]
    public void The_floor_survives_a_restart_and_everything_above_it_is_sent_again()
    {
        using (var outbox = Open())
        {
            Append(outbox, 1, 5);
            ReadAll(outbox);
            outbox.MarkPublished([1, 2, 3, 4, 5]);
            outbox.Confirm(1, 2);
            outbox.Confirm(4, 4);
            Assert.Equal(2UL, outbox.Acknowledged);
        }

        // 4's confirmation was above the floor, in memory only: it goes again, and the cloud de-duplicates it.
        using var reopened = Open();
        Assert.Equal(2UL, reopened.Acknowledged);
        Assert.Equal(3, reopened.Depth);
        Assert.Equal([3UL, 4, 5], ReadAll(reopened).Select(m => m.Sequence));
    }

    [Fact]
    public void A_puback_moves_only_the_send_cursor()
    {
        using var outbox = Open();
        Append(outbox, 1, 3);
        Assert.Equal(3, ReadAll(outbox).Count);
        outbox.MarkPublished([1, 2]);

        Assert.Equal(3, outbox.Depth);
        Assert.Equal(2, outbox.Unconfirmed);

        // After a reconnect, what the broker took waits for its confirmation; what was in flight goes again.
        outbox.Rewind();
        Assert.Equal([3UL], ReadAll(outbox).Select(m => m.Sequence));

        outbox.Confirm(1, 3);
        Assert.Equal(0, outbox.Depth);
        Assert.Equal(0, outbox.Unconfirmed);
        Assert.Single(Directory.GetFiles(_directory, "*.seg"));
    }

    [Fact]
    public void Unconfirmed_messages_fall_due_after_the_timeout_and_back_off_until_a_confirmation_arrives()
    {
        using var outbox = Open(confirmTimeout: TimeSpan.FromSeconds(10), maxResendInterval: TimeSpan.FromSeconds(40));
        Append(outbox, 1, 3);
        ReadAll(outbox);
        outbox.MarkPublished([1, 2, 3]);

        Assert.Empty(outbox.TakeDue(10));
        Assert.Equal(TimeSpan.FromSeconds(10), outbox.TimeUntilDue());
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Empty(outbox.TakeDue(10));

        // t = 10 s: the first re-send; the next waits 20 s, then 40 s (the cap), while nothing is confirmed.
        _time.Advance(TimeSpan.FromSeconds(0.1));
        var first = outbox.TakeDue(10);
        Assert.Equal([1UL, 2, 3], first.Select(m => m.Sequence));
        Assert.Equal(Payload(2), first[1].Payload);
        Assert.Empty(outbox.TakeDue(10));
        Assert.Equal(TimeSpan.FromSeconds(20), outbox.TimeUntilDue());
        _time.Advance(TimeSpan.FromSeconds(19.9));
        Assert.Empty(outbox.TakeDue(10));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(3, outbox.TakeDue(10).Count);
        Assert.Equal(TimeSpan.FromSeconds(40), outbox.TimeUntilDue());

        // A confirmation is progress: the rest go back to the first interval.
        outbox.Confirm(1, 1);
        Assert.Equal(TimeSpan.FromSeconds(10), outbox.TimeUntilDue());
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal([2UL, 3], outbox.TakeDue(10).Select(m => m.Sequence));

        // At most the number asked for, oldest first; the rest stay due.
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal([2UL], outbox.TakeDue(1).Select(m => m.Sequence));
        Assert.Equal([3UL], outbox.TakeDue(1).Select(m => m.Sequence));
    }

    [Fact]
    public void A_resend_request_is_due_at_once_and_numbers_not_held_are_reported()
    {
        using var outbox = Open();
        Append(outbox, 1, 5);

        // 6..9 were never used (a crash skipped them).
        Append(outbox, 10, 11);
        ReadAll(outbox);
        outbox.MarkPublished([1, 2, 3, 4, 5, 10, 11]);
        outbox.Confirm(1, 2);

        outbox.RequestResend(1, 11);
        outbox.RequestResend(500, 600);

        Assert.Equal(TimeSpan.Zero, outbox.TimeUntilDue());
        Assert.Equal([3UL, 4, 5, 10, 11], outbox.TakeDue(100).Select(m => m.Sequence));
        var drops = outbox.TakeDrops();
        Assert.Equal(
            [new OutboxDrop(1, 2, DeliveryDropReasons.NotHeld, 0), new OutboxDrop(6, 9, DeliveryDropReasons.NotHeld, 0)],
            drops);
        Assert.Empty(outbox.TakeDrops());
        Assert.Equal(5, outbox.Depth);
    }

    [Fact]
    public void The_disk_budget_drops_unconfirmed_messages_counts_them_and_reports_them_as_budget()
    {
        // One 4 KiB segment holds 40 records of 100 bytes: appending 200 evicts the oldest segments.
        using var outbox = Open(maxBytes: 1024 * 1024 + 8192, segmentBytes: 4096);
        var payload = new byte[100 - 25 - Topics.DetectionsKind.Length];
        for (ulong s = 1; s <= 40; s++)
        {
            outbox.Append(s, Topics.DetectionsKind, payload);
        }

        // Half of the first segment was confirmed (out of order): those were delivered, not dropped.
        outbox.Confirm(11, 30);
        var budget = new OutboxOptions { MaxBytes = 1024 * 1024, SegmentBytes = 4096 };
        for (ulong s = 41; s <= 11_000; s++)
        {
            outbox.Append(s, Topics.DetectionsKind, payload);
        }

        var drops = outbox.TakeDrops();
        Assert.True(outbox.Evicted > 0);
        Assert.All(drops, d => Assert.Equal(DeliveryDropReasons.Budget, d.Reason));
        Assert.Equal((ulong)outbox.Evicted, drops.Aggregate(0UL, (n, d) => n + d.Messages));
        Assert.Equal(new OutboxDrop(1, 10, DeliveryDropReasons.Budget, 10), drops[0]);
        Assert.Equal(31UL, drops[1].First);
        Assert.DoesNotContain(drops, d => d.First <= 30 && d.Last >= 11);
        Assert.Equal(11_000 - 20 - outbox.Evicted, outbox.Depth);
        Assert.True(outbox.BytesOnDisk <= budget.MaxBytes + 8192 + 4096, $"{outbox.BytesOnDisk} bytes on disk");
    }

    [Fact]
    public void A_drop_report_that_is_itself_evicted_hands_its_ranges_to_the_next()
    {
        using var outbox = Open(maxAge: TimeSpan.FromHours(1), segmentBytes: 64);
        var report = new DeliveryReported();
        report.Dropped.Add(new DroppedRange { First = 1, Last = 9, Reason = DeliveryDropReasons.Budget, Messages = 9 });
        outbox.Append(10, Topics.DeliveryKind, report.ToByteArray());
        Append(outbox, 11, 12);
        _time.Advance(TimeSpan.FromHours(2));
        outbox.Trim();

        Assert.Equal(
            [new OutboxDrop(1, 9, DeliveryDropReasons.Budget, 9), new OutboxDrop(10, 12, DeliveryDropReasons.Age, 3)],
            outbox.TakeDrops());
    }

    [Fact]
    public void Messages_older_than_the_age_limit_are_reported_as_age_drops()
    {
        using var outbox = Open(maxAge: TimeSpan.FromHours(1), segmentBytes: 64);
        Append(outbox, 1, 5);
        outbox.MarkPublished([1, 2]);
        _time.Advance(TimeSpan.FromHours(2));
        outbox.Trim();

        Assert.Equal([new OutboxDrop(1, 5, DeliveryDropReasons.Age, 5)], outbox.TakeDrops());
        Assert.Equal(0, outbox.Depth);
        Assert.Equal(0, outbox.Unconfirmed);
        Assert.Empty(outbox.TakeDue(10));
    }

    [Fact]
    public void Refused_messages_are_settled_and_reported_as_cloud_refused_but_never_a_refused_report()
    {
        using var outbox = Open();
        outbox.Append(1, Topics.DetectionsKind, Payload(1));
        outbox.Append(2, Topics.DetectionsKind, Payload(2));
        outbox.Append(3, Topics.DeliveryKind, Payload(3));
        outbox.Append(4, Topics.TelemetryKind, Payload(4));

        Assert.Equal(4UL, outbox.Confirm(1, 4, refused: true));
        Assert.Equal(
            [new OutboxDrop(1, 2, DeliveryDropReasons.CloudRefused, 2), new OutboxDrop(4, 4, DeliveryDropReasons.CloudRefused, 1)],
            outbox.TakeDrops());
        Assert.Equal(0, outbox.Depth);
        Assert.Equal(4UL, outbox.Acknowledged);
    }

    [Fact]
    public void A_permanent_broker_refusal_settles_the_message_and_reports_it()
    {
        using var outbox = Open();
        Append(outbox, 1, 3);
        outbox.Drop(2, 2, DeliveryDropReasons.BrokerRefused);

        Assert.Equal([new OutboxDrop(2, 2, DeliveryDropReasons.BrokerRefused, 1)], outbox.TakeDrops());
        Assert.Equal(2, outbox.Depth);
        outbox.Confirm(1, 1);
        Assert.Equal(2UL, outbox.Acknowledged);
    }

    [Fact]
    public async Task The_commits_handler_applies_a_confirmation_and_ignores_a_malformed_one()
    {
        using var outbox = Open();
        Append(outbox, 1, 6);
        ReadAll(outbox);
        outbox.MarkPublished([1, 2, 3, 4, 5, 6]);
        var handler = new CommitsHandler(outbox, NullLogger<CommitsHandler>.Instance);
        var confirmation = new CommitsConfirmed { SchemaVersion = SchemaVersions.Current };
        confirmation.Committed.Add(new SequenceRange { First = 1, Last = 3 });
        confirmation.Refused.Add(new SequenceRange { First = 5, Last = 5 });
        confirmation.Resend.Add(new SequenceRange { First = 4, Last = 4 });

        await handler.HandleAsync(new ReadOnlySequence<byte>(confirmation.ToByteArray()), CancellationToken.None);

        Assert.Equal(3UL, outbox.Acknowledged);
        Assert.Equal(2, outbox.Depth);
        Assert.Equal([4UL], outbox.TakeDue(10).Select(m => m.Sequence));
        Assert.Equal([new OutboxDrop(5, 5, DeliveryDropReasons.CloudRefused, 1)], outbox.TakeDrops());
        Assert.Equal(1, handler.Received);
        Assert.Equal(4, handler.Settled);

        var reversed = new CommitsConfirmed { SchemaVersion = SchemaVersions.Current };
        reversed.Committed.Add(new SequenceRange { First = 6, Last = 4 });
        await handler.HandleAsync(new ReadOnlySequence<byte>(reversed.ToByteArray()), CancellationToken.None);
        await handler.HandleAsync(new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF]), CancellationToken.None);
        var future = new CommitsConfirmed { SchemaVersion = 2 };
        future.Committed.Add(new SequenceRange { First = 6, Last = 6 });
        await handler.HandleAsync(new ReadOnlySequence<byte>(future.ToByteArray()), CancellationToken.None);

        Assert.Equal(3, handler.Invalid);
        Assert.Equal(2, outbox.Depth);
    }

    [Fact]
    public void Drops_become_delivery_reports_the_cloud_accepts()
    {
        using var outbox = Open(maxAge: TimeSpan.FromHours(1), segmentBytes: 64);
        using var counter = new SequenceCounter(Path.Combine(_directory, "state"));
        var options = new EdgeAgentOptions { DeviceId = "pi-07" };
        var upstream = new UpstreamWriter(options, counter, outbox, _time);
        for (var i = 0; i < 3; i++)
        {
            var telemetry = new TelemetryReported();
            upstream.Append(Topics.TelemetryKind, telemetry, e => telemetry.Envelope = e);
        }

        // Evicted, then asked for: reported under both reasons (the cloud keeps both; the numbers are gone either way).
        _time.Advance(TimeSpan.FromHours(2));
        outbox.Trim();
        outbox.RequestResend(2, 3);
        var reporter = new DeliveryReporter(options, outbox, upstream, _time, NullLogger<DeliveryReporter>.Instance);

        Assert.Equal(1, reporter.ReportPending());
        Assert.Equal(0, reporter.ReportPending());
        var message = ReadAll(outbox).Single();
        Assert.Equal(Topics.DeliveryKind, message.Kind);
        Assert.True(
            WireDecoder.TryDecodeDelivery("pi-07", new ReadOnlySequence<byte>(message.Payload), out var report, out var rejection),
            rejection?.ToString());
        Assert.Equal(4UL, report.Envelope.Sequence);
        Assert.Equal(
            [(1UL, 3UL, DeliveryDropReasons.Age, 3UL), (2UL, 3UL, DeliveryDropReasons.NotHeld, 0UL)],
            report.Dropped.Select(d => (d.First, d.Last, d.Reason, d.Messages)));
    }

    private OutboxStore Open(
        long maxBytes = 64 * 1024 * 1024,
        long segmentBytes = 1024 * 1024,
        TimeSpan? maxAge = null,
        TimeSpan? confirmTimeout = null,
        TimeSpan? maxResendInterval = null) =>
        new(
            _directory,
            new OutboxOptions { MaxBytes = maxBytes, SegmentBytes = segmentBytes, MaxAge = maxAge ?? TimeSpan.FromDays(7), Fsync = FsyncPolicy.Never },
            _time,
            new DeliveryOptions
            {
                ConfirmTimeout = confirmTimeout ?? TimeSpan.FromSeconds(30),
                MaxResendInterval = maxResendInterval ?? TimeSpan.FromMinutes(5),
            });

    private static void Append(OutboxStore outbox, ulong first, ulong last)
    {
        for (var s = first; s <= last; s++)
        {
            outbox.Append(s, Topics.DetectionsKind, Payload(s));
        }
    }

    private static byte[] Payload(ulong sequence) => System.Text.Encoding.UTF8.GetBytes($"message {sequence}");

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
