using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Ingest;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// Tells device grains what committed, gathered per device over <see cref="IngestOptions.GrainUpdateIntervalMs"/>: one
/// call per device per interval instead of one per device per batch. A device at 5 frames/s lands in most of a silo's
/// batches, so per-batch calls were about one grain call (half of them to the other silo) per frame.
/// </summary>
/// <remarks>
/// Grain state (counters, last seen, sequence gaps) is therefore up to one interval behind the database. Frames never
/// depend on it: they are committed and acknowledged before they reach here. What is pending when the silo stops is
/// sent on the way out.
/// </remarks>
public sealed partial class CommittedFramesNotifier(
    IGrainFactory grains, CloudOptions options, TimeProvider time, ILogger<CommittedFramesNotifier> logger) : BackgroundService
{
    private readonly Lock _gate = new();
    private Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);

    /// <summary>Adds one committed batch: its rows, and which of them were new (the rest were duplicates).</summary>
    public void Add(IReadOnlyList<FrameRow> rows, BatchWriteResult result)
    {
        var inserted = new HashSet<(string, long)>(result.Inserted.Select(i => (i.DeviceId, i.Sequence)));
        lock (_gate)
        {
            foreach (var row in rows)
            {
                if (!_pending.TryGetValue(row.DeviceId, out var device))
                {
                    device = new Pending();
                    _pending.Add(row.DeviceId, device);
                }

                if (inserted.Remove((row.DeviceId, row.Sequence)))
                {
                    device.Sequences.Add(row.Sequence);
                    device.Detections += row.Detections.Length;
                }
                else
                {
                    device.Duplicates++;
                }

                if (device.LatestReceivedAt is null || row.ReceivedAt >= device.LatestReceivedAt)
                {
                    device.LatestReceivedAt = row.ReceivedAt;
                    device.ModelVersion = row.ModelVersion;
                }
            }
        }

        if (options.Ingest.GrainUpdateIntervalMs == 0)
        {
            _ = FlushAsync();
        }
    }

    /// <summary>Sends what has gathered; returns when every grain answered (failures are logged).</summary>
    public async Task FlushAsync()
    {
        Dictionary<string, Pending> due;
        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            due = _pending;
            _pending = new Dictionary<string, Pending>(due.Count, StringComparer.Ordinal);
        }

        var calls = new List<Task>(due.Count);
        foreach (var (deviceId, device) in due)
        {
            calls.Add(grains.GetGrain<IDeviceGrain>(deviceId).RecordCommittedAsync(
                new CommittedFrames([.. device.Sequences], device.Duplicates, device.Detections, device.LatestReceivedAt!.Value, device.ModelVersion)));
        }

        try
        {
            await Task.WhenAll(calls);
        }
        catch (Exception ex)
        {
            // The rows are committed; a grain that missed an update only loses counters, so log and go on.
            LogGrainUpdateFailed(ex, calls.Count(c => c.IsFaulted), calls.Count);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Ingest.GrainUpdateIntervalMs == 0)
        {
            return; // Add sends each batch's updates itself.
        }

        var interval = TimeSpan.FromMilliseconds(options.Ingest.GrainUpdateIntervalMs);
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(interval, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            await FlushAsync();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating device grains after committed frames failed for {Failed} of {Devices} devices")]
    private partial void LogGrainUpdateFailed(Exception ex, int failed, int devices);

    private sealed class Pending
    {
        public List<long> Sequences { get; } = [];

        public int Duplicates { get; set; }

        public long Detections { get; set; }

        public DateTimeOffset? LatestReceivedAt { get; set; }

        public string ModelVersion { get; set; } = "";
    }
}
