using Orleans.Runtime;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;

namespace YoloFleet.Cloud.Grains;

/// <summary>
/// Hot per-device state: last seen, active and candidate model, health, counters and sequence accounting
/// (<see cref="SequenceTracker"/>), kept in durable grain storage so it survives the silo.
/// </summary>
/// <remarks>
/// Ingest changes are written behind, at most every <see cref="SaveEvery"/> and when the grain deactivates (a silo that
/// stops cleanly saves them all). Writing after every committed batch cost a storage write per device per batch: with
/// 1,000 devices that is thousands of Redis writes a second for counters. A silo that dies loses at most the last few
/// seconds of counters, never a frame: frames live in PostgreSQL. Operator changes (the candidate model) save at once.
/// </remarks>
public sealed class DeviceGrain(
    [PersistentState("device", DeviceGrain.StorageName)] IPersistentState<DeviceState> state,
    DeviceDirectory directory,
    DeviceStateStorage storage,
    GapRequester gaps,
    TimeProvider time) : Grain, IDeviceGrain
{
    /// <summary>The grain storage provider's name: memory on a single host, Redis in a cluster.</summary>
    public const string StorageName = "device-state";

    private static readonly TimeSpan RegisteredCacheFor = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan UnknownCacheFor = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(5);

    private SequenceTracker _sequences = new();
    private ModelTwin _twin = new(new ModelTwinState());
    private GapRequestPolicy _gapRequests = null!;
    private IGrainTimer? _gapTimer;
    private bool? _admitted;
    private long _admissionCheckedAt;
    private bool _dirty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _sequences = SequenceTracker.Restore(state.State.Sequences);
        state.State.ModelTwin ??= new ModelTwinState();
        _twin = new ModelTwin(state.State.ModelTwin);
        this.RegisterGrainTimer(static (grain, _) => grain.SaveIfChangedAsync(), this, SaveEvery, SaveEvery);
        _gapRequests = gaps.CreatePolicy();
        WatchGaps();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        // Memory grain storage (single host) is itself made of grains, which a stopping silo has often deactivated
        // already, and it would not outlive the silo anyway: writing to it on the way out only logged placement errors.
        reason.ReasonCode == DeactivationReasonCode.ShuttingDown && !storage.Durable ? Task.CompletedTask : SaveIfChangedAsync();

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
        var s = state.State;
        s.Frames += committed.Sequences.Length;
        s.Detections += committed.Detections;
        s.Messages += committed.Sequences.Length;
        Seen(committed.ReceivedAt);
        if (s.ModelVersionSeenAt is not { } modelSeen || committed.ReceivedAt >= modelSeen)
        {
            s.ModelVersion = committed.ModelVersion;
            s.ModelVersionSeenAt = committed.ReceivedAt;
        }

        return MarkChanged();
    }

    public Task RecordMessageAsync(long sequence, DateTimeOffset receivedAt)
    {
        _sequences.Observe(sequence);
        state.State.Messages++;
        Seen(receivedAt);
        return MarkChanged();
    }

    public Task RecordTelemetryAsync(long sequence, DeviceHealth health)
    {
        _sequences.Observe(sequence);
        state.State.Messages++;
        if (Seen(health.ReceivedAt) || state.State.Health is null)
        {
            state.State.Health = health;
        }

        return MarkChanged();
    }

    public async Task SetCandidateModelAsync(string? modelVersion)
    {
        state.State.CandidateModelVersion = modelVersion;
        await SaveAsync();
    }

    public async Task<bool> IsAdmittedAsync()
    {
        if (_admitted is { } admitted && time.GetElapsedTime(_admissionCheckedAt) < (admitted ? RegisteredCacheFor : UnknownCacheFor))
        {
            return admitted;
        }

        var device = await directory.FindAsync(this.GetPrimaryKeyString());
        _admitted = device is { Status: DeviceStatus.Active };
        _admissionCheckedAt = time.GetTimestamp();
        return _admitted.Value;
    }

    public Task RefreshRegistrationAsync()
    {
        _admitted = null;
        return Task.CompletedTask;
    }

    public Task<DeviceSnapshot> GetSnapshotAsync()
    {
        var s = state.State;
        return Task.FromResult(new DeviceSnapshot(
            this.GetPrimaryKeyString(), s.LastSeenAt, _sequences.Highest, s.Frames, s.Detections, _sequences.Duplicates, _sequences.Missing,
            s.ModelVersion, s.CandidateModelVersion, s.Health, s.Messages));
    }

    public async Task SetDesiredModelAsync(DesiredModel desired)
    {
        _twin.SetDesired(desired);
        await SaveAsync();
    }

    public async Task RecordModelAckAsync(ModelAck ack)
    {
        _twin.RecordAck(ack);
        await SaveAsync();
    }

    public Task ReportModelsAsync(ReportedModels reported)
    {
        _twin.Report(reported);
        return MarkChanged();
    }

    public Task<DeviceTwin> GetTwinAsync() => Task.FromResult(_twin.Snapshot(this.GetPrimaryKeyString()));

    public Task RecordDropsAsync(long sequence, DateTimeOffset receivedAt, DroppedSequences[] dropped)
    {
        _sequences.Observe(sequence);
        foreach (var range in dropped)
        {
            _sequences.Account(range.First, range.Last);
        }

        state.State.Messages++;
        Seen(receivedAt);
        return MarkChanged();
    }

    public Task<DeviceDeliveryState> GetDeliveryAsync() => Task.FromResult(new DeviceDeliveryState(
        this.GetPrimaryKeyString(),
        _sequences.Highest,
        _sequences.Missing,
        [.. _gapRequests.Update(_sequences.MissingRanges(), time.GetUtcNow()).Take(100).Select(g => new SequenceGap(g.First, g.Last, g.Since))],
        _sequences.Accounted,
        _gapRequests.Requests,
        _gapRequests.LastRequestAt,
        _gapRequests.NextRequestAt));

    /// <summary>
    /// Gaps still open after a while are asked of the device again (<see cref="GapRequestPolicy"/>), on a timer that runs
    /// only while gaps are open: most devices have none, and a timer per idle grain costs a silo of 10,000 devices.
    /// </summary>
    private void WatchGaps()
    {
        if (_gapTimer is null && gaps.Options.Enabled && _sequences.Missing > 0)
        {
            _gapTimer = this.RegisterGrainTimer(static (grain, _) => grain.RequestGapsAsync(), this, gaps.Options.CheckEvery, gaps.Options.CheckEvery);
        }
    }

    private async Task RequestGapsAsync()
    {
        await gaps.RequestAsync(this.GetPrimaryKeyString(), _sequences, _gapRequests);
        if (_sequences.Missing == 0)
        {
            _gapTimer?.Dispose();
            _gapTimer = null;
        }
    }

    private Task MarkChanged()
    {
        _dirty = true;
        WatchGaps();
        return Task.CompletedTask;
    }

    private Task SaveIfChangedAsync() => _dirty ? SaveAsync() : Task.CompletedTask;

    private async Task SaveAsync()
    {
        state.State.Sequences = _sequences.Save();
        _dirty = false;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            _dirty = true; // Try again at the next tick.
            throw;
        }
    }

    private bool Seen(DateTimeOffset receivedAt)
    {
        if (state.State.LastSeenAt is not { } last || receivedAt >= last)
        {
            state.State.LastSeenAt = receivedAt;
            return true;
        }

        return false;
    }
}

/// <summary>Which grain storage holds <see cref="DeviceGrain"/> state: durable (Redis, shared by the silos) or this silo's memory.</summary>
public sealed record DeviceStateStorage(bool Durable);
