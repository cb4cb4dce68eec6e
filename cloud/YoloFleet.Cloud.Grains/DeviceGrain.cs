using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Grains;

/// <summary>
/// Hot per-device state. Gap accounting: a sequence above the highest seen opens a gap of the numbers skipped;
/// a late arrival below it (a redelivery after reconnect, or out-of-order delivery) closes one.
/// </summary>
public sealed class DeviceGrain : Grain, IDeviceGrain
{
    private DateTimeOffset? _lastSeenAt;
    private long _highestSequence;
    private long _frames;
    private long _detections;
    private long _duplicates;
    private long _missing;
    private string? _modelVersion;

    public Task RecordCommittedAsync(CommittedFrames committed)
    {
        var sequences = (long[])committed.Sequences.Clone();
        Array.Sort(sequences);
        foreach (var sequence in sequences)
        {
            if (sequence > _highestSequence)
            {
                // The first message of a device that started before the cloud saw it is not a gap.
                if (_frames > 0)
                {
                    _missing += sequence - _highestSequence - 1;
                }

                _highestSequence = sequence;
            }
            else if (_missing > 0)
            {
                _missing--;
            }
        }

        _frames += committed.Sequences.Length;
        _detections += committed.Detections;
        _duplicates += committed.Duplicates;
        if (_lastSeenAt is null || committed.ReceivedAt > _lastSeenAt)
        {
            _lastSeenAt = committed.ReceivedAt;
            _modelVersion = committed.ModelVersion;
        }

        return Task.CompletedTask;
    }

    public Task<DeviceSnapshot> GetSnapshotAsync() => Task.FromResult(new DeviceSnapshot(
        this.GetPrimaryKeyString(), _lastSeenAt, _highestSequence, _frames, _detections, _duplicates, _missing, _modelVersion));
}
