using System.Globalization;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>This process's resident memory as Linux reports it in /proc/self/status; null elsewhere.</summary>
public static class ProcessMemory
{
    private const double BytesPerMegabyte = 1024 * 1024;

    /// <summary>Peak resident set size (VmHWM) in MiB: the most physical memory the process has held at once.</summary>
    public static double? PeakResidentMegabytes() => ReadStatusKilobytes("VmHWM:") * 1024 / BytesPerMegabyte;

    /// <summary>Current resident set size (VmRSS) in MiB.</summary>
    public static double? ResidentMegabytes() => ReadStatusKilobytes("VmRSS:") * 1024 / BytesPerMegabyte;

    /// <summary>The one-minute load average (/proc/loadavg), to judge how noisy a measurement was.</summary>
    public static double? LoadAverage()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            var first = text.Split(' ', 2)[0];
            return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static double? ReadStatusKilobytes(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal))
                {
                    continue;
                }

                // "VmHWM:	  123456 kB"
                var value = line.AsSpan(field.Length).Trim();
                var end = value.IndexOf(' ');
                return long.TryParse(end < 0 ? value : value[..end], NumberStyles.Integer, CultureInfo.InvariantCulture, out var kilobytes)
                    ? kilobytes
                    : null;
            }

            return null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
