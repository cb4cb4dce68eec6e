using System.Globalization;

namespace YoloFleet.Cli.IngestBench;

/// <summary>
/// CPU time of a group of processes, read from /proc (Linux). The bench samples each group at the start and end of its
/// measurement window and reports the difference as a share of one core.
/// </summary>
internal sealed class ProcessCpu(string name, Func<IReadOnlyList<int>> pids)
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ; 100 on every Linux ABI .NET runs on.

    public string Name { get; } = name;

    /// <summary>User plus system CPU seconds used so far by the group's live processes (0 where /proc is absent).</summary>
    public double CpuSeconds()
    {
        var total = 0.0;
        foreach (var pid in pids())
        {
            total += CpuSecondsOf(pid);
        }

        return total;
    }

    public static double CpuSecondsOf(int pid)
    {
        try
        {
            // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15 (1-based).
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks / TicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0; // Gone, or not Linux.
        }
    }

    /// <summary>A process and every descendant of it (PostgreSQL forks a backend per connection).</summary>
    public static IReadOnlyList<int> WithDescendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in SafeDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }

                list.Add(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
            }
        }

        var result = new List<int> { root };
        for (var i = 0; i < result.Count; i++)
        {
            if (children.TryGetValue(result[i], out var kids))
            {
                result.AddRange(kids);
            }
        }

        return result;
    }

    private static string[] SafeDirectories(string path)
    {
        try
        {
            return Directory.GetDirectories(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
