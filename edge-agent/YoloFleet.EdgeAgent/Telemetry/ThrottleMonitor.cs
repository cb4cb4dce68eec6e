namespace YoloFleet.EdgeAgent.Telemetry;

/// <summary>
/// Whether the device is throttling now (thermal or power), for tagging every latency the agent reports: a latency
/// measured on a throttled device is not comparable with one measured on a cool one. Read from the Raspberry Pi
/// firmware's flags and the thermal zone (<see cref="DeviceHealth"/>), at most once a second, so frames can ask freely.
/// </summary>
public sealed class ThrottleMonitor(DeviceHealth health, TelemetryOptions options, TimeProvider time)
{
    /// <summary>
    /// The firmware's "now" bits (get_throttled): 0 under-voltage, 1 ARM frequency capped, 2 throttled, 3 soft
    /// temperature limit. Bits 16-19 say the same happened since boot, which does not slow the device now.
    /// </summary>
    public const uint ThrottlingNowMask = 0xF;

    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private long _readAt;
    private bool _read;
    private bool _throttled;

    /// <summary>True when the firmware flags or the temperature (at or over Agent:Telemetry:ThrottleTemperatureC) say so.</summary>
    public bool IsThrottled
    {
        get
        {
            lock (_gate)
            {
                if (!_read || time.GetElapsedTime(_readAt) >= RefreshInterval)
                {
                    _throttled = ReadNow();
                    _readAt = time.GetTimestamp();
                    _read = true;
                }

                return _throttled;
            }
        }
    }

    /// <summary>Whether these readings mean throttling now.</summary>
    public static bool IsThrottling(uint? flags, float? temperatureC, double thresholdC) =>
        (flags is { } bits && (bits & ThrottlingNowMask) != 0) || (temperatureC is { } celsius && celsius >= thresholdC);

    private bool ReadNow() => IsThrottling(health.ThrottledFlags(), health.TemperatureCelsius(), options.ThrottleTemperatureC);
}
