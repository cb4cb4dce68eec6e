using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace YoloFleet.EdgeAgent.Pipeline;

/// <summary>Agent:Liveness: a file the agent touches while its pipeline is alive, for supervisors without sd_notify.</summary>
public sealed class LivenessFileOptions
{
    /// <summary>The file to write; empty (the default) writes none. A relative path is under Agent:StateDirectory.</summary>
    public string File { get; set; } = "";

    /// <summary>How often the file is rewritten while the pipeline is alive.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00", ErrorMessage = "Agent:Liveness:Interval must be between 50 ms and 1 hour.")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// No progress for this long means the pipeline is stalled (as for the systemd watchdog's WatchdogSec): the file is
    /// no longer rewritten, so its age tells a health check the agent is stuck.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00", ErrorMessage = "Agent:Liveness:StallAfter must be between 100 ms and 1 day.")]
    public TimeSpan StallAfter { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The liveness file: every <see cref="LivenessFileOptions.Interval"/>, while <see cref="PipelineLiveness"/> says frames
/// flow (or the quiet is expected), the file is replaced with the current UTC time. A health check that is not systemd
/// (deploy/topology.sh, a container's HEALTHCHECK) calls the agent healthy while the file is younger than a few
/// intervals. The file is written beside itself and renamed, so a reader never sees it half-written.
/// </summary>
public sealed partial class LivenessFileWriter(
    EdgeAgentOptions options, PipelineLiveness liveness, TimeProvider time, ILogger<LivenessFileWriter> logger) : BackgroundService
{
    private long _writes;
    private long _withheld;
    private long _failures;

    /// <summary>The full path of the file, or null when Agent:Liveness:File is not set.</summary>
    public string? Path { get; } = options.Liveness.File is { Length: > 0 } file
        ? System.IO.Path.GetFullPath(file, System.IO.Path.GetFullPath(options.StateDirectory))
        : null;

    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Ticks at which the pipeline was stalled, so the file was left to age.</summary>
    public long Withheld => Interlocked.Read(ref _withheld);

    public long Failures => Interlocked.Read(ref _failures);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Path is null)
        {
            return;
        }

        var settings = options.Liveness;
        LogOn(Path, settings.Interval.TotalSeconds);
        var stalled = false;
        using var timer = new PeriodicTimer(settings.Interval, time);
        do
        {
            if (liveness.IsAlive(settings.StallAfter))
            {
                stalled = false;
                Write(Path);
            }
            else
            {
                Interlocked.Increment(ref _withheld);
                if (!stalled)
                {
                    LogStalled(Path, liveness.SinceProgress.TotalSeconds);
                    stalled = true;
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private void Write(string path)
    {
        var temporary = path + ".tmp";
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            System.IO.File.WriteAllText(temporary, time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture) + "\n");
            System.IO.File.Move(temporary, path, overwrite: true);
            Interlocked.Increment(ref _writes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full or read-only disk must not stop the agent; the ageing file reports it instead.
            if (Interlocked.Increment(ref _failures) == 1)
            {
                LogWriteFailed(path, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Liveness file {Path}: rewritten every {Seconds} s while frames flow")]
    private partial void LogOn(string path, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "The pipeline has made no progress for {Seconds:F1} s; no longer rewriting the liveness file {Path}")]
    private partial void LogStalled(string path, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the liveness file {Path}: {Error}")]
    private partial void LogWriteFailed(string path, string error);
}
