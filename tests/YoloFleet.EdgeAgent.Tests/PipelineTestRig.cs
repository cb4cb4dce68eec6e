using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>
/// A real pipeline (yolox_nano_416, a real outbox and sequence counter in a temporary folder) without MQTT: what it
/// publishes is recorded through <see cref="AgentPipeline.Published"/>.
/// </summary>
internal sealed class PipelineTestRig : IDisposable
{
    private readonly SequenceCounter _sequence;

    public PipelineTestRig(Action<EdgeAgentOptions>? configure = null, TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        Directory.CreateDirectory(StateDirectory);
        Options = new EdgeAgentOptions { DeviceId = "pipe-01", StateDirectory = StateDirectory };
        Options.HardFrames.Enabled = false;
        configure?.Invoke(Options);
        Detector = Detector.Open(SharedData.YoloxNano416);
        Detectors = new RunningDetector(Detector, new RunningModel(Detector.Model.Sha256, Detector.Model.Version, ModelOrigin.Factory, Detector.Model.Path));
        Health = new DeviceHealth(new DeviceHealthPaths(), Time);
        Throttle = new ThrottleMonitor(Health, Options.Telemetry, Time);
        Slots = new ModelSlotStore(StateDirectory);
        Outbox = new OutboxStore(Path.Combine(StateDirectory, "outbox"), new OutboxOptions(), Time);
        _sequence = new SequenceCounter(StateDirectory);
        Liveness = new PipelineLiveness(Time);
        Upstream = new UpstreamWriter(Options, _sequence, Outbox, Time);
        Pipeline = new AgentPipeline(
            Options, Detectors, Upstream,
            new HardFramePolicy(Options.HardFrames, Time, new Random(1)), Timings, Liveness, Throttle, Time, NullLogger<AgentPipeline>.Instance)
        {
            Published = message =>
            {
                lock (Published)
                {
                    Published.Add(message);
                }

                return Task.CompletedTask;
            },
        };
    }

    public string StateDirectory { get; } = Path.Combine(Path.GetTempPath(), "yf-pipe-" + Guid.NewGuid().ToString("N"));

    public TimeProvider Time { get; }

    public EdgeAgentOptions Options { get; }

    /// <summary>The factory detector the rig starts with (yolox_nano_416).</summary>
    public Detector Detector { get; }

    /// <summary>What the pipeline runs; a test may switch it to another detector mid-run.</summary>
    public RunningDetector Detectors { get; }

    public DeviceHealth Health { get; }

    public ThrottleMonitor Throttle { get; }

    public ModelSlotStore Slots { get; }

    public OutboxStore Outbox { get; }

    public StageTimings Timings { get; } = new();

    public PipelineLiveness Liveness { get; }

    public UpstreamWriter Upstream { get; }

    public AgentPipeline Pipeline { get; }

    public List<DetectionsPublished> Published { get; } = [];

    public int PublishedCount
    {
        get
        {
            lock (Published)
            {
                return Published.Count;
            }
        }
    }

    /// <summary>The telemetry report the agent would send now.</summary>
    public TelemetryReported TelemetryReport() =>
        new TelemetryReporter(Options, Timings, Health, Outbox, Upstream, Detectors, Slots, Throttle, Time).BuildReport();

    public void Dispose()
    {
        Outbox.Dispose();
        _sequence.Dispose();
        Detectors.Dispose();
        Directory.Delete(StateDirectory, recursive: true);
    }
}

/// <summary>Test videos written with OpenCV's VideoWriter (Motion-JPEG in AVI: OpenCV's built-in writer, no codec needed).</summary>
internal static class TestVideos
{
    /// <summary>Writes the first <paramref name="frames"/> coco128 images, resized to 320x240, as an MJPG AVI.</summary>
    public static string WriteCoco(string path, int frames, double fps = 10)
    {
        var size = new Size(320, 240);
        using (var writer = new VideoWriter(path, FourCC.MJPG, fps, size))
        {
            Assert.True(writer.IsOpened(), $"this OpenCV build cannot write MJPG AVI to {path}");
            foreach (var file in Directory.EnumerateFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal).Take(frames))
            {
                using var image = Cv2.ImRead(file);
                using var resized = image.Resize(size);
                writer.Write(resized);
            }
        }

        return path;
    }
}

/// <summary>Bounded polling for state that settles on other threads; it always stops by itself.</summary>
internal static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}
