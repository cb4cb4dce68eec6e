using System.Data.Common;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Delivery;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Grains;

/// <summary>What the silo's device grains asked of their devices (a silo-wide singleton; part of /api/ingest/stats).</summary>
public sealed class GapRequestCounters
{
    private long _requests;
    private long _ranges;
    private long _numbers;
    private long _foundStored;
    private long _failures;

    public long Requests => Interlocked.Read(ref _requests);

    public long RangesRequested => Interlocked.Read(ref _ranges);

    public long NumbersRequested => Interlocked.Read(ref _numbers);

    /// <summary>Gap numbers found stored (or reported dropped) before a request: the grain had not heard of them.</summary>
    public long FoundStored => Interlocked.Read(ref _foundStored);

    /// <summary>Requests the broker did not take (or the database check failed); tried again at the next interval.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    internal void Requested(int ranges, long numbers)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _ranges, ranges);
        Interlocked.Add(ref _numbers, numbers);
    }

    internal void Found(long numbers) => Interlocked.Add(ref _foundStored, numbers);

    internal void Failed() => Interlocked.Increment(ref _failures);
}

/// <summary>
/// Asks devices to send open gaps again, for their grains: when a grain's <see cref="GapRequestPolicy"/> says gaps are
/// due, it first asks PostgreSQL which of those numbers the cloud already holds (stored, or reported dropped: a grain
/// that lost its last seconds of state with its silo opens gaps for numbers that did commit) and closes those; it asks
/// the device for the rest with a <c>CommitsConfirmed</c> carrying <c>resend</c> ranges, through the silo's downlink.
/// </summary>
public sealed partial class GapRequester(
    GapRequestOptions options,
    DeliveryStore store,
    IDeviceDownlink downlink,
    GapRequestCounters counters,
    TimeProvider time,
    ILogger<GapRequester> logger)
{
    public GapRequestOptions Options => options;

    public GapRequestPolicy CreatePolicy() => new(options);

    /// <summary>Runs on the grain's timer, in the grain's context (it changes <paramref name="tracker"/>).</summary>
    public async Task RequestAsync(string deviceId, SequenceTracker tracker, GapRequestPolicy policy)
    {
        if (!options.Enabled || (tracker.Missing == 0 && policy.Gaps.Count == 0))
        {
            return;
        }

        var now = time.GetUtcNow();
        var due = policy.Due(tracker.MissingRanges(), now);
        if (due.Count == 0)
        {
            return;
        }

        var wanted = new SequenceRangeSet();
        try
        {
            foreach (var (first, last) in due)
            {
                wanted.Add((ulong)first, (ulong)last);
                foreach (var (heldFirst, heldLast) in await store.HeldWithinAsync(deviceId, first, last))
                {
                    wanted.Remove((ulong)heldFirst, (ulong)heldLast);
                    counters.Found(tracker.Close(heldFirst, heldLast));
                }
            }
        }
        catch (DbException ex)
        {
            counters.Failed();
            LogCheckFailed(ex, deviceId);
            return;
        }

        if (wanted.IsEmpty)
        {
            return;
        }

        policy.Requested(now);
        var request = new CommitsConfirmed { SchemaVersion = SchemaVersions.Current, SentAtUnixMs = now.ToUnixTimeMilliseconds() };
        request.Resend.AddRange(wanted.ToProto(ProtocolLimits.MaxRangesPerConfirmationList));
        counters.Requested(request.Resend.Count, (long)wanted.Count);
        LogRequesting(deviceId, (long)wanted.Count, request.Resend.Count, request.Resend[0].First);

        // Off the grain's scheduler: a broker that is away must not hold up the grain's other calls.
        var payload = request.ToByteArray();
        _ = Task.Run(() => PublishAsync(deviceId, payload));
    }

    private async Task PublishAsync(string deviceId, byte[] payload)
    {
        try
        {
            await downlink.PublishAsync(deviceId, Topics.CommitsKind, payload, retain: false);
        }
        catch (DownlinkUnavailableException ex)
        {
            counters.Failed();
            LogRequestFailed(deviceId, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Asking device {DeviceId} to send {Numbers} missing sequence number(s) again ({Ranges} range(s) from {First})")]
    private partial void LogRequesting(string deviceId, long numbers, int ranges, ulong first);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check device {DeviceId}'s gaps against the database; trying again later")]
    private partial void LogCheckFailed(Exception ex, string deviceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not ask device {DeviceId} for its gaps ({Error}); trying again later")]
    private partial void LogRequestFailed(string deviceId, string error);
}
