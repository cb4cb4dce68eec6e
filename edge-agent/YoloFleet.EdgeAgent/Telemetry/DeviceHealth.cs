using System.Diagnostics;
using System.Globalization;

namespace YoloFleet.EdgeAgent.Telemetry;

/// <summary>Where the agent reads the device's temperature and throttling flags; absent files give null.</summary>
public sealed class DeviceHealthPaths
{
    /// <summary>Millidegrees Celsius (Linux thermal zone).</summary>
    public string ThermalZone { get; set; } = "/sys/class/thermal/thermal_zone0/temp";

    /// <summary>The Raspberry Pi firmware's throttling bit field (hex), on kernels that expose it.</summary>
    public string Throttled { get; set; } = "/sys/devices/platform/soc/soc:firmware/get_throttled";
}

/// <summary>Process CPU and memory, and the device's temperature and throttling state.</summary>
public sealed class DeviceHealth(DeviceHealthPaths paths, TimeProvider time)
{
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastAt = time.GetTimestamp();

    /// <summary>CPU used by this process since the previous call, as a share of the whole machine (0-100).</summary>
    public float CpuPercentSinceLastCall()
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var now = time.GetTimestamp();
        var wall = time.GetElapsedTime(_lastAt, now);
        var used = cpu - _lastCpu;
        _lastCpu = cpu;
        _lastAt = now;
        return wall <= TimeSpan.Zero ? 0f : (float)(100 * used.TotalSeconds / wall.TotalSeconds / Environment.ProcessorCount);
    }

    public static float ResidentMegabytes() => Environment.WorkingSet / (1024f * 1024f);

    public float? TemperatureCelsius() =>
        ReadNumber(paths.ThermalZone, NumberStyles.Integer) is { } milli ? milli / 1000f : null;

    public uint? ThrottledFlags() =>
        ReadNumber(paths.Throttled, NumberStyles.HexNumber, trimHexPrefix: true) is { } flags ? (uint)flags : null;

    private static long? ReadNumber(string path, NumberStyles style, bool trimHexPrefix = false)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            if (trimHexPrefix && text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            {
                text = text[2..];
            }

            return long.TryParse(text, style, CultureInfo.InvariantCulture, out var value) ? value : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
