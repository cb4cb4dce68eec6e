using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// The registry check on the hot path. A silo-local cache answers most messages without a call; behind it the device
/// grain (one per device in the cluster) caches the registry row, so PostgreSQL sees about one query per device per
/// minute however many silos and messages there are. An unknown device is re-checked every couple of seconds, so a
/// device registered a moment ago is admitted soon after.
/// </summary>
public sealed partial class DeviceAdmission(CloudOptions options, IGrainFactory grains, TimeProvider time, ILogger<DeviceAdmission> logger)
{
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read the registry for device {DeviceId} (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogRegistryUnavailable(Exception ex, string deviceId, int attempt, double delayMs);
}
