using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Registry;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// The registry check on the hot path. A silo-local cache answers most messages without a call: it is loaded with every
/// active device in one query before the silo subscribes and every <see cref="RefreshEvery"/> after
/// (<see cref="AdmissionRefreshService"/>). A device it does not hold is asked of the device grain (one per device in
/// the cluster, which caches the registry row). An unknown device is re-checked every second, so a device registered a
/// moment ago is admitted soon after; a disabled one is refused within <see cref="AdmittedCacheFor"/>.
/// </summary>
/// <remarks>
/// Without the bulk load, each device's first message waited for a grain activation and a registry query while the
/// MQTT client's receive loop (which runs its handler one message at a time) waited behind it: with 1,000 devices, a
/// silo's first seconds built a backlog that took half a minute to drain (docs/benchmarks.md).
/// </remarks>
public sealed partial class DeviceAdmission(
    CloudOptions options, IGrainFactory grains, DeviceDirectory directory, TimeProvider time, ILogger<DeviceAdmission> logger)
{
    /// <summary>How often the active devices are loaded again; shorter than <see cref="AdmittedCacheFor"/>.</summary>
    public static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan AdmittedCacheFor = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RefusedCacheFor = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, (bool Admitted, long CheckedAt)> _cache = new(StringComparer.Ordinal);

    public bool Enforced => options.Registry.RequireRegistration;

    /// <summary>
    /// Whether to admit the device's message. When the registry cannot be read (database or grain down), this waits and
    /// retries, holding the message unacknowledged like the batch writer does, rather than dropping a valid message.
    /// </summary>
    public ValueTask<bool> IsAdmittedAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        if (!Enforced)
        {
            return ValueTask.FromResult(true);
        }

        if (_cache.TryGetValue(deviceId, out var entry)
            && time.GetElapsedTime(entry.CheckedAt) < (entry.Admitted ? AdmittedCacheFor : RefusedCacheFor))
        {
            return ValueTask.FromResult(entry.Admitted);
        }

        return AskGrainAsync(deviceId, cancellationToken);
    }

    /// <summary>Loads every active device into the cache in one query; returns how many.</summary>
    public async Task<int> RefreshAsync(CancellationToken cancellationToken)
    {
        if (!Enforced)
        {
            return 0;
        }

        var active = await directory.ListActiveIdsAsync(cancellationToken);
        var now = time.GetTimestamp();
        foreach (var id in active)
        {
            _cache[id] = (true, now);
        }

        return active.Count;
    }

    /// <summary><see cref="RefreshAsync"/>, logging a failure instead of throwing it (the grains still answer).</summary>
    public async Task<int?> TryRefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RefreshAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogRefreshFailed(ex);
            return null;
        }
    }

    /// <summary>Drops this silo's cached answer (after a registration through this silo).</summary>
    public void Forget(string deviceId) => _cache.TryRemove(deviceId, out _);

    private async ValueTask<bool> AskGrainAsync(string deviceId, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var admitted = await grains.GetGrain<IDeviceGrain>(deviceId).IsAdmittedAsync().WaitAsync(cancellationToken);
                _cache[deviceId] = (admitted, time.GetTimestamp());
                return admitted;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogRegistryUnavailable(ex, deviceId, attempt, delay.TotalMilliseconds);
            }

            await Task.Delay(delay, time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Loading the active devices failed; the admission cache keeps what it has and asks device grains")]
    private partial void LogRefreshFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read the registry for device {DeviceId} (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogRegistryUnavailable(Exception ex, string deviceId, int attempt, double delayMs);
}

/// <summary>Keeps <see cref="DeviceAdmission"/>'s cache loaded with the active devices.</summary>
public sealed class AdmissionRefreshService(DeviceAdmission admission, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(DeviceAdmission.RefreshEvery, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            await admission.TryRefreshAsync(stoppingToken);
        }
    }
}
