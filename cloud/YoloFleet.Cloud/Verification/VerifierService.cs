using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Data.Verification;
using YoloFleet.Inference;

namespace YoloFleet.Cloud.Verification;

/// <summary>
/// The FP32 verifier: a pool of stateless workers (one detector each, sized to the cores) reading the bounded
/// <see cref="VerificationQueue"/>, each storing one verification row per hard frame.
/// </summary>
public sealed partial class VerifierService(
    VerifierOptions options,
    VerificationQueue queue,
    VerificationWriter writer,
    VerificationCounters counters,
    TimeProvider time,
    ILogger<VerifierService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!queue.Enabled)
        {
            LogDisabled();
            return;
        }

        // Open every detector up front, so a bad model stops the silo at start with the model's problem named.
        var workers = options.EffectiveWorkers;
        var verifiers = new List<HardFrameVerifier>(workers);
        try
        {
            for (var i = 0; i < workers; i++)
            {
                var detector = Detector.Open(options.ModelPath, new DetectorOptions { IntraOpThreads = options.ThreadsPerWorker });
                verifiers.Add(new HardFrameVerifier(detector, time));
            }

            LogStarted(workers, verifiers[0].VerifierModel, options.ThreadsPerWorker);
            await Task.WhenAll(verifiers.Select(v => Task.Run(() => WorkAsync(v, stoppingToken), CancellationToken.None)));
        }
        finally
        {
            foreach (var v in verifiers)
            {
                v.Dispose();
            }
        }
    }

    private async Task WorkAsync(HardFrameVerifier verifier, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var item in queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    var started = time.GetTimestamp();
                    var verdicts = verifier.Verify(item.Frame);
                    if (verdicts is null)
                    {
                        counters.Dropped(VerificationDropReason.UndecodableJpeg);
                        LogUndecodable(item.Frame.DeviceId, item.Frame.Sequence);
                        continue;
                    }

                    foreach (var verdict in verdicts)
                    {
                        await writer.InsertAsync(verdict, stoppingToken);
                    }

                    counters.Verified(time.GetElapsedTime(started));
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // One bad frame or a database hiccup costs one verdict, never the worker.
                    counters.Dropped(VerificationDropReason.Failed);
                    LogFailed(ex, item.Frame.DeviceId, item.Frame.Sequence);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "FP32 verifier off (Cloud:Verifier:ModelPath is empty); hard frames are stored unverified")]
    private partial void LogDisabled();

    [LoggerMessage(Level = LogLevel.Information, Message = "FP32 verifier: {Workers} workers on {Model}, {Threads} thread(s) each")]
    private partial void LogStarted(int workers, string model, int threads);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Hard frame {DeviceId}/{Sequence}: the JPEG cannot be decoded; not verified")]
    private partial void LogUndecodable(string deviceId, long sequence);

    [LoggerMessage(Level = LogLevel.Error, Message = "Verifying hard frame {DeviceId}/{Sequence} failed")]
    private partial void LogFailed(Exception ex, string deviceId, long sequence);
}
