using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>
/// Runs queued quantize jobs on this silo, one at a time: it claims the oldest queued job from PostgreSQL (or one whose
/// silo stopped reporting), runs it, and looks again; when idle it waits for a submission on this silo or the next poll.
/// A job this silo was running when it stopped is queued again at its next start.
/// </summary>
public sealed partial class QuantizeJobService(
    ModelJobStore jobs, QuantizeJobs submissions, QuantizeJobRunner runner, JobClaimant claimant, ModelRegistryOptions options,
    ILogger<QuantizeJobService> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.RunJobs)
        {
            LogNotRunningJobs();
            return;
        }

        submissions.Submitted += Wake;
        try
        {
            try
            {
                if (await jobs.RequeueClaimedByAsync(claimant.Name, stoppingToken) is > 0 and var requeued)
                {
                    LogRequeued(requeued);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogClaimFailed(ex);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                ModelJobRow? job = null;
                try
                {
                    job = await jobs.ClaimNextAsync(claimant.Name, options.JobStaleAfter, stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogClaimFailed(ex);
                }

                if (job is not null)
                {
                    LogStarted(job.Id, job.ModelName, job.SourceVersion);
                    await runner.RunAsync(job, claimant.Name, stoppingToken);
                    continue;
                }

                await _wake.WaitAsync(options.JobPollInterval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A job interrupted here stays "running" under this silo's name; another silo takes it once it goes stale.
        }
        finally
        {
            submissions.Submitted -= Wake;
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Running quantize job {JobId} ({Model} version {Version})")]
    private partial void LogStarted(long jobId, string model, int version);

    [LoggerMessage(Level = LogLevel.Information, Message = "This silo runs no quantize jobs (Cloud:Models:RunJobs is false); other silos take them")]
    private partial void LogNotRunningJobs();

    [LoggerMessage(Level = LogLevel.Information, Message = "Queued again {Jobs} quantize job(s) this silo was running when it stopped")]
    private partial void LogRequeued(int jobs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not look for quantize jobs; trying again at the next poll")]
    private partial void LogClaimFailed(Exception ex);
}

/// <summary>How this silo names itself on the jobs it claims: stable across its restarts (host and silo port).</summary>
public sealed record JobClaimant(string Name);
