using System.Buffers;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Delivery;

/// <summary>
/// What this silo has settled per device since its last confirmation: committed (stored now, or found stored before)
/// and refused for good. <see cref="Ingest.MqttIngestService"/> records each message's outcome where it learns it;
/// <see cref="CommitConfirmationService"/> takes the lot every interval and tells each device once. Thread-safe; bounded
/// by <see cref="DeliveryOptions.MaxPendingRanges"/> (what does not fit is counted and sent again by the device).
/// </summary>
public sealed class CommitConfirmations(DeliveryOptions options, DeliveryCounters counters)
{
    private readonly Lock _gate = new();
    private Dictionary<string, DeviceSettled> _pending = new(StringComparer.Ordinal);
    private long _ranges;

    /// <summary>Off when <see cref="DeliveryOptions.ConfirmIntervalMs"/> is 0: nothing is recorded.</summary>
    public bool Enabled => options.ConfirmIntervalMs > 0;

    /// <summary>Devices with something to confirm.</summary>
    public int PendingDevices
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>
    /// Records one upstream message's outcome from its topic and envelope: refused now, or committed once
    /// <paramref name="done"/> completes (a message that never commits is not confirmed, and the device sends it again).
    /// Batches carry no envelope of their own; their handler records each frame.
    /// </summary>
    public void Track(string topic, in ReadOnlySequence<byte> payload, Task done, bool refused)
    {
        if (!Enabled
            || !Topics.TryParse(topic, out var deviceId, out var kind)
            || kind == Topics.DetectionsBatchKind
            || !WireDecoder.TryReadSequence(deviceId, payload, out var sequence))
        {
            return;
        }

        if (refused)
        {
            Refused(deviceId, sequence);
        }
        else
        {
            WhenCommitted(deviceId, [sequence], done);
        }
    }

    /// <summary>Records <paramref name="sequences"/> as committed once <paramref name="done"/> completes successfully.</summary>
    public void WhenCommitted(string deviceId, ulong[] sequences, Task done)
    {
        if (!Enabled || sequences.Length == 0)
        {
            return;
        }

        if (done.IsCompletedSuccessfully)
        {
            Committed(deviceId, sequences);
            return;
        }

        done.ContinueWith(
            (t, state) =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    var (self, device, numbers) = ((CommitConfirmations, string, ulong[]))state!;
                    self.Committed(device, numbers);
                }
            },
            (this, deviceId, sequences),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    public void Committed(string deviceId, IReadOnlyList<ulong> sequences) => Add(deviceId, sequences, refused: false);

    public void Refused(string deviceId, ulong sequence) => Add(deviceId, [sequence], refused: true);

    /// <summary>Takes everything recorded so far; what comes after goes into a fresh buffer.</summary>
    public Dictionary<string, DeviceSettled> TakeAll()
    {
        lock (_gate)
        {
            var taken = _pending;
            _pending = new Dictionary<string, DeviceSettled>(Math.Max(16, taken.Count), StringComparer.Ordinal);
            _ranges = 0;
            return taken;
        }
    }

    /// <summary>Puts back what could not be confirmed (the publish failed, or it did not fit in one message).</summary>
    public void PutBack(string deviceId, DeviceSettled settled)
    {
        lock (_gate)
        {
            var device = DeviceFor(deviceId);
            foreach (var (first, last) in settled.Committed.Ranges)
            {
                AddRange(device.Committed, first, last);
            }

            foreach (var (first, last) in settled.Refused.Ranges)
            {
                AddRange(device.Refused, first, last);
            }
        }
    }

    private void Add(string deviceId, IReadOnlyList<ulong> sequences, bool refused)
    {
        if (!Enabled)
        {
            return;
        }

        lock (_gate)
        {
            var device = DeviceFor(deviceId);
            var set = refused ? device.Refused : device.Committed;
            foreach (var sequence in sequences)
            {
                AddRange(set, sequence, sequence);
            }
        }
    }

    private DeviceSettled DeviceFor(string deviceId)
    {
        if (!_pending.TryGetValue(deviceId, out var device))
        {
            device = new DeviceSettled();
            _pending.Add(deviceId, device);
        }

        return device;
    }

    private void AddRange(SequenceRangeSet set, ulong first, ulong last)
    {
        if (_ranges >= options.MaxPendingRanges && !set.Contains(first) && !(first > 1 && set.Contains(first - 1)))
        {
            // A new range would not fit: the device sends the message again and it is confirmed then.
            counters.ConfirmationRangeDropped();
            return;
        }

        var before = set.RangeCount;
        set.Add(first, last);
        _ranges += set.RangeCount - before;
    }
}

/// <summary>One device's settled numbers awaiting confirmation.</summary>
public sealed class DeviceSettled
{
    public SequenceRangeSet Committed { get; } = new();

    public SequenceRangeSet Refused { get; } = new();
}
