using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Grains;

/// <summary>Hot per-device state: last seen, model, counters and sequence accounting (<see cref="SequenceTracker"/>).</summary>
public sealed class DeviceGrain : Grain, IDeviceGrain
{
    private readonly SequenceTracker _sequences = new();
    private DateTimeOffset? _lastSeenAt;
    private long _frames;
    private long _detections;
    private string? _modelVersion;

    public Task RecordCommittedAsync(CommittedFrames committed)
    {
        var sequences = (long[])committed.Sequences.Clone();
        Array.Sort(sequences);
        foreach (var sequence in sequences)
        {
            _sequences.Observe(sequence);
        }

        // The database refused these as already stored: redeliveries.
        _sequences.CountDuplicates(committed.Duplicates);
        _frames += committed.Sequences.Length;
        _detections += committed.Detections;
        if (Seen(committed.ReceivedAt))
        {
            _modelVersion = committed.ModelVersion;
        }

        return Task.CompletedTask;
    }

    public Task RecordMessageAsync(long sequence, DateTimeOffset receivedAt)
    {
        _sequences.Observe(sequence);
        Seen(receivedAt);
        return Task.CompletedTask;
    }

    public Task<DeviceSnapshot> GetSnapshotAsync() => Task.FromResult(new DeviceSnapshot(
        this.GetPrimaryKeyString(), _lastSeenAt, _sequences.Highest, _frames, _detections, _sequences.Duplicates, _sequences.Missing, _modelVersion));

    private bool Seen(DateTimeOffset receivedAt)
    {
        if (_lastSeenAt is null || receivedAt >= _lastSeenAt)
        {
            _lastSeenAt = receivedAt;
            return true;
        }

        return false;
    }
}
