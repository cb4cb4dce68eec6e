using Microsoft.Extensions.Logging.Abstractions;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Delivery;
using YoloFleet.Cloud.Grains;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Tests;

/// <summary>The cloud's half of end-to-end delivery: accounting drops, asking for gaps, gathering confirmations.</summary>
public sealed class DeliveryTrackingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Reported_drops_close_gaps_as_accounted_not_as_seen()
    {
        var tracker = new SequenceTracker();
        foreach (var s in new long[] { 1, 2, 10, 11, 20 })
        {
            tracker.Observe(s);
        }

        Assert.Equal([(3L, 9L), (12L, 19L)], tracker.MissingRanges());
        Assert.Equal(7, tracker.Account(3, 9));
        Assert.Equal([(12L, 19L)], tracker.MissingRanges());

        // A drop beyond what was seen widens the span without opening a gap of its own; 21..24 stay missing.
        Assert.Equal(6, tracker.Account(25, 30));
        Assert.Equal(30, tracker.Highest);
        Assert.Equal([(12L, 19L), (21L, 24L)], tracker.MissingRanges());
        Assert.Equal(0, tracker.Duplicates);

        Assert.Equal(3, tracker.Close(12, 14));
        Assert.Equal(13, tracker.Accounted);
        Assert.Equal(9, tracker.Missing);

        var restored = SequenceTracker.Restore(tracker.Save());
        Assert.Equal(13, restored.Accounted);
        Assert.Equal(tracker.MissingRanges(), restored.MissingRanges());
    }

    [Fact]
    public void A_first_report_before_any_message_sets_the_span()
    {
        var tracker = new SequenceTracker();
        Assert.Equal(100, tracker.Account(1, 100));
        tracker.Observe(105);
        Assert.Equal([(101L, 104L)], tracker.MissingRanges());
        Assert.Equal(0, tracker.Duplicates);
    }

    [Fact]
    public void A_gap_is_asked_for_only_once_it_is_old_and_then_with_back_off()
    {
        var policy = new GapRequestPolicy(new GapRequestOptions(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(100)));
        List<(long, long)> open = [(5, 9)];

        Assert.Empty(policy.Due(open, T0));
        Assert.Empty(policy.Due(open, T0.AddSeconds(29)));
        Assert.Equal([(5L, 9L)], policy.Due(open, T0.AddSeconds(30)));
        policy.Requested(T0.AddSeconds(30));

        // Still open: asked again after 30 s, then 60 s, then at most 100 s apart.
        Assert.Empty(policy.Due(open, T0.AddSeconds(59)));
        Assert.NotEmpty(policy.Due(open, T0.AddSeconds(60)));
        policy.Requested(T0.AddSeconds(60));
        Assert.Empty(policy.Due(open, T0.AddSeconds(119)));
        Assert.NotEmpty(policy.Due(open, T0.AddSeconds(120)));
        policy.Requested(T0.AddSeconds(120));
        Assert.Equal(T0.AddSeconds(220), policy.NextRequestAt);
        Assert.Equal(3, policy.Requests);

        // A gap that opens later has its own age; part of an old one that is filled is no longer asked for.
        open = [(5, 6), (40, 41)];
        Assert.Equal([(5L, 6L)], policy.Due(open, T0.AddSeconds(220)));
        policy.Requested(T0.AddSeconds(220));

        // Everything old closed: the next gap starts from the first interval again.
        open = [(40, 41)];
        Assert.Empty(policy.Due(open, T0.AddSeconds(221)));
        Assert.Null(policy.NextRequestAt);
        Assert.Equal([(40L, 41L)], policy.Due(open, T0.AddSeconds(250)));
    }

    [Fact]
    public void Gaps_keep_the_time_they_opened_as_they_split_and_grow()
    {
        List<(long First, long Last, DateTimeOffset Since)> before = [(5, 9, T0), (20, 20, T0.AddSeconds(1))];
        var after = GapRequestPolicy.Reconcile(before, [(4, 6), (8, 12), (20, 21)], T0.AddSeconds(5));

        Assert.Equal(
            [(4L, 4L, T0.AddSeconds(5)), (5L, 6L, T0), (8L, 9L, T0), (10L, 12L, T0.AddSeconds(5)), (20L, 20L, T0.AddSeconds(1)), (21L, 21L, T0.AddSeconds(5))],
            after);
    }

    [Fact]
    public void Settled_numbers_gather_per_device_as_merged_ranges()
    {
        var confirmations = Confirmations();
        confirmations.Committed("pi-1", [1, 2, 3, 5]);
        confirmations.Refused("pi-1", 4);
        confirmations.Committed("pi-2", [9]);
        var done = new TaskCompletionSource();
        confirmations.WhenCommitted("pi-1", [6, 7], done.Task);

        Assert.Equal(2, confirmations.PendingDevices);
        var taken = confirmations.TakeAll();
        Assert.Equal([(1UL, 3UL), (5UL, 5UL)], taken["pi-1"].Committed.Ranges);
        Assert.Equal([(4UL, 4UL)], taken["pi-1"].Refused.Ranges);
        Assert.Equal(0, confirmations.PendingDevices);

        // Committed only when its batch commits; never when it fails.
        done.SetResult();
        var failed = new TaskCompletionSource();
        confirmations.WhenCommitted("pi-1", [8], failed.Task);
        failed.SetException(new InvalidOperationException("the batch did not commit"));
        Assert.Equal([(6UL, 7UL)], confirmations.TakeAll()["pi-1"].Committed.Ranges);
    }

    [Fact]
    public void A_refused_message_is_confirmed_from_its_envelope_and_a_batch_topic_is_left_to_its_handler()
    {
        var confirmations = Confirmations();
        var telemetry = new TelemetryReported { Envelope = new Envelope { SchemaVersion = 1, DeviceId = "pi-1", Sequence = 42 } };
        var payload = new System.Buffers.ReadOnlySequence<byte>(Google.Protobuf.MessageExtensions.ToByteArray(telemetry));

        confirmations.Track(Topics.Telemetry("pi-1"), payload, Task.CompletedTask, refused: true);
        confirmations.Track(Topics.Telemetry("pi-2"), payload, Task.CompletedTask, refused: false);
        confirmations.Track(Topics.DetectionsBatch("pi-1"), payload, Task.CompletedTask, refused: false);

        var taken = confirmations.TakeAll();
        Assert.Equal(["pi-1"], taken.Keys);
        Assert.Equal([(42UL, 42UL)], taken["pi-1"].Refused.Ranges);
        Assert.True(taken["pi-1"].Committed.IsEmpty);
    }

    [Fact]
    public async Task One_confirmation_per_device_and_a_failed_publish_keeps_its_ranges()
    {
        var options = new DeliveryOptions();
        var counters = new DeliveryCounters(new GapRequestCounters());
        var confirmations = new CommitConfirmations(options, counters);
        var downlink = new RecordingDownlink();
        var service = new CommitConfirmationService(options, confirmations, downlink, counters, TimeProvider.System, NullLogger<CommitConfirmationService>.Instance);
        confirmations.Committed("pi-1", [1, 2, 3, 7]);
        confirmations.Committed("pi-2", [1]);
        downlink.Refuse.Add("pi-2");

        Assert.Equal(1, await service.FlushAsync(CancellationToken.None));

        var sent = Assert.Single(downlink.Sent);
        Assert.Equal(("pi-1", Topics.CommitsKind, false), (sent.Device, sent.Kind, sent.Retain));
        var message = CommitsConfirmed.Parser.ParseFrom(sent.Payload);
        Assert.Equal(SchemaVersions.Current, message.SchemaVersion);
        Assert.Equal([(1UL, 3UL), (7UL, 7UL)], message.Committed.Select(r => (r.First, r.Last)));
        Assert.Equal([(1UL, 1UL)], confirmations.TakeAll()["pi-2"].Committed.Ranges);
        var stats = counters.Snapshot(confirmations.Enabled);
        Assert.Equal((1L, 4L, 1L), (stats.ConfirmationsPublished, stats.SequencesConfirmedCommitted, stats.ConfirmationFailures));
    }

    [Fact]
    public void A_confirmation_carries_at_most_its_limit_of_ranges_and_keeps_the_rest()
    {
        var settled = new DeviceSettled();
        for (ulong s = 1; s <= 2 * ProtocolLimits.MaxRangesPerConfirmationList; s += 2)
        {
            settled.Committed.Add(s);
            settled.Refused.Add(s + 1);
        }

        var message = CommitConfirmationService.Build(settled, T0);
        Assert.Equal(ProtocolLimits.MaxRangesPerConfirmationList, message.Committed.Count);
        Assert.Equal(ProtocolLimits.MaxRangesPerConfirmationList, message.Refused.Count);
        Assert.True(message.CalculateSize() <= ProtocolLimits.MaxCommitsPayloadBytes, $"{message.CalculateSize()} bytes");
        Assert.True(settled.Committed.IsEmpty && settled.Refused.IsEmpty);

        var bigNumbers = new DeviceSettled();
        for (var i = 0UL; i < (ulong)ProtocolLimits.MaxRangesPerConfirmationList + 5; i++)
        {
            bigNumbers.Committed.Add((long.MaxValue / 2) + (3 * i));
            bigNumbers.Refused.Add((long.MaxValue / 2) + (3 * i) + 1);
        }

        var full = CommitConfirmationService.Build(bigNumbers, T0);
        Assert.True(full.CalculateSize() <= ProtocolLimits.MaxCommitsPayloadBytes, $"{full.CalculateSize()} bytes");
        Assert.Equal(5, bigNumbers.Committed.RangeCount);
    }

    [Fact]
    public void Confirmations_are_bounded_and_off_records_nothing()
    {
        var counters = new DeliveryCounters(new GapRequestCounters());
        var bounded = new CommitConfirmations(new DeliveryOptions { MaxPendingRanges = 1000 }, counters);
        for (ulong s = 1; s <= 3000; s += 2)
        {
            bounded.Committed("pi-1", [s]);
        }

        // A number that joins ranges that exist still fits (here it merges two).
        bounded.Committed("pi-1", [2]);
        Assert.Equal(999, bounded.TakeAll()["pi-1"].Committed.RangeCount);
        Assert.Equal(500, counters.Snapshot(true).ConfirmationRangesDropped);

        var off = new CommitConfirmations(new DeliveryOptions { ConfirmIntervalMs = 0 }, counters);
        off.Committed("pi-1", [1]);
        Assert.Empty(off.TakeAll());
    }

    private static CommitConfirmations Confirmations() => new(new DeliveryOptions(), new DeliveryCounters(new GapRequestCounters()));

    private sealed class RecordingDownlink : IDeviceDownlink
    {
        public List<(string Device, string Kind, byte[] Payload, bool Retain)> Sent { get; } = [];

        public HashSet<string> Refuse { get; } = [];

        public Task PublishAsync(string deviceId, string kind, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken = default)
        {
            lock (Sent)
            {
                if (Refuse.Contains(deviceId))
                {
                    throw new DownlinkUnavailableException("the broker is away");
                }

                Sent.Add((deviceId, kind, payload.ToArray(), retain));
            }

            return Task.CompletedTask;
        }
    }
}
