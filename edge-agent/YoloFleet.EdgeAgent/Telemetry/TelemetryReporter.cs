using System.ComponentModel.DataAnnotations;
using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Telemetry;

/// <summary>Configuration section "Agent:Telemetry".</summary>
public sealed class TelemetryOptions
{
    [Range(1, 86_400)]
    public int IntervalSeconds { get; set; } = 10;

    [Required]
    public DeviceHealthPaths Paths { get; set; } = new();

    /// <summary>At or above this temperature (°C) the device counts as throttling even without firmware flags.</summary>
    [Range(-50.0, 200.0)]
    public double ThrottleTemperatureC { get; set; } = 80;
}

/// <summary>
/// Every interval, queues a TelemetryReported message: frames/s, p50/p95 per pipeline stage, CPU and RSS, temperature
/// and throttling (null where the device has none), outbox depth, unconfirmed messages and evictions, drops and the
/// active model.
/// </summary>
public sealed class TelemetryReporter(
    EdgeAgentOptions options,
    StageTimings timings,
    DeviceHealth health,
    OutboxStore outbox,
    UpstreamWriter upstream,
    RunningDetector detectors,
    ModelSlotStore slots,
    ThrottleMonitor throttle,
    TimeProvider time) : BackgroundService
{
    private long _lastFrames;
    private long _lastAt = time.GetTimestamp();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Telemetry.IntervalSeconds), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var report = BuildReport();
            upstream.Append(Topics.TelemetryKind, report, envelope => report.Envelope = envelope);
        }
    }

    /// <summary>The report for the interval since the previous one; its envelope is set when it is queued.</summary>
    public TelemetryReported BuildReport()
    {
        var now = time.GetTimestamp();
        var frames = timings.Frames;
        var seconds = time.GetElapsedTime(_lastAt, now).TotalSeconds;
        var report = new TelemetryReported
        {
            FramesPerSecond = seconds > 0 ? (float)((frames - _lastFrames) / seconds) : 0f,
            CpuPercent = health.CpuPercentSinceLastCall(),
            RssMb = DeviceHealth.ResidentMegabytes(),
            OutboxDepth = (ulong)Math.Max(0, outbox.Depth),
            OutboxEvicted = (ulong)outbox.Evicted,
            OutboxUnconfirmed = (ulong)outbox.Unconfirmed,
            FramesDropped = (ulong)timings.Dropped,
            SourceFailures = (ulong)timings.SourceFailures,
            SourceError = Truncate(timings.SourceError ?? "", 512),
            ModelVersion = detectors.Model.Version,
            ActiveModelSha256 = detectors.Model.Sha256,
            CandidateModelSha256 = slots.State.Candidate?.Sha256 ?? "",
            Throttled = throttle.IsThrottled,
        };
        if (health.TemperatureCelsius() is { } celsius)
        {
            report.TemperatureC = celsius;
        }

        if (health.ThrottledFlags() is { } flags)
        {
            report.ThrottledFlags = flags;
        }

        foreach (var (stage, p50, p95) in timings.Percentiles())
        {
            report.Stages.Add(new StageLatency { Stage = stage.ToString().ToLowerInvariant(), P50Ms = (float)p50, P95Ms = (float)p95 });
        }

        _lastFrames = frames;
        _lastAt = now;
        return report;
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];
}
