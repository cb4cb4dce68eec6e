using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.EdgeAgent.Telemetry;

namespace YoloFleet.EdgeAgent;

/// <summary>
/// Runs the pipeline for the host's lifetime. When a finite source is exhausted, it waits (bounded by
/// Agent:DrainTimeout) for the outbox to empty, then stops the host.
/// </summary>
public sealed partial class AgentWorker(
    EdgeAgentOptions options,
    AgentPipeline pipeline,
    OutboxStore outbox,
    StageTimings timings,
    PipelineLiveness liveness,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<AgentWorker> logger) : BackgroundService
{
    /// <summary>Why the pipeline stopped, when it failed (null otherwise).</summary>
    public Exception? Failure { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunWithRetriesAsync(stoppingToken);
            await WaitForDrainAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Failure = ex;
            LogPipelineFailed(ex);
            Environment.ExitCode = 1;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    /// <summary>
    /// A lost source (folder gone, file unreadable, stream down, camera unplugged or missing) is reported and retried
    /// with back-off (1 s doubling to 30 s, reset once frames flowed) until it returns.
    /// </summary>
    private async Task RunWithRetriesAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            var framesBefore = pipeline.FramesPublished;
            try
            {
                using var source = FrameSources.Open(options.Source, time);
                await pipeline.RunAsync(source, stoppingToken);
                return;
            }
            catch (SourceUnavailableException ex)
            {
                if (pipeline.FramesPublished > framesBefore)
                {
                    backoff = TimeSpan.FromSeconds(1);
                }

                timings.SourceLost(ex.Message);
                LogSourceLost(ex.Message, backoff.TotalSeconds);

                // Retrying is legitimate quiet: the watchdog keeps pinging while the source is away.
                liveness.ExpectQuietFor(backoff);
                await Task.Delay(backoff, time, stoppingToken);
                backoff = TimeSpan.FromSeconds(Math.Min(backoff.TotalSeconds * 2, 30));
            }
        }
    }

    private async Task WaitForDrainAsync(CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(options.DrainTimeout);
        liveness.ExpectQuietFor(options.DrainTimeout);
        try
        {
            // Drops not yet reported become messages too: wait for them as well.
            while (outbox.Depth > 0 || outbox.PendingDrops > 0)
            {
                await outbox.WaitForChangeAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            LogDrainTimedOut(outbox.Depth, options.DrainTimeout.TotalSeconds);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Frame source lost: {Error}; retrying in {Seconds} s")]
    private partial void LogSourceLost(string error, double seconds);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The agent pipeline stopped with an error")]
    private partial void LogPipelineFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Depth} messages were still in the outbox after {Seconds} s; they stay on disk and are sent on the next start")]
    private partial void LogDrainTimedOut(long depth, double seconds);
}
