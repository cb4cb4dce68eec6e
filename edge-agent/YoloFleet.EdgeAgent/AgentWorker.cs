using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Sources;

namespace YoloFleet.EdgeAgent;

/// <summary>Runs the pipeline for the host's lifetime; stops the host when a finite source is exhausted.</summary>
public sealed partial class AgentWorker(
    EdgeAgentOptions options,
    AgentPipeline pipeline,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<AgentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var source = new ImageFolderSource(options.Source.Folder, options.Source.Loop, time);
            await pipeline.RunAsync(source, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogPipelineFailed(ex);
            Environment.ExitCode = 1;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "The agent pipeline stopped with an error")]
    private partial void LogPipelineFailed(Exception ex);
}
