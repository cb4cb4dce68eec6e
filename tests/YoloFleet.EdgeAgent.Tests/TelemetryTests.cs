using Microsoft.Extensions.Time.Testing;
using YoloFleet.Contracts;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class TelemetryTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-telemetry-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public TelemetryTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Stage_percentiles_come_from_the_recent_frames()
    {
        var timings = new StageTimings();
        for (var i = 1; i <= 100; i++)
        {
            timings.Record(PipelineStage.Inference, i);
        }

        var inference = Assert.Single(timings.Percentiles());
        Assert.Equal(PipelineStage.Inference, inference.Stage);
        Assert.Equal(50, inference.P50);
        Assert.Equal(95, inference.P95);
    }

    [Fact]
    public void A_report_carries_rates_health_outbox_state_and_model()
    {
        File.WriteAllText(Path.Combine(_directory, "temp"), "48312\n");
        File.WriteAllText(Path.Combine(_directory, "throttled"), "0x50005\n");
        var paths = new DeviceHealthPaths { ThermalZone = Path.Combine(_directory, "temp"), Throttled = Path.Combine(_directory, "throttled") };
        using var outbox = new OutboxStore(Path.Combine(_directory, "outbox"), new OutboxOptions { MaxBytes = 2048, SegmentBytes = 256 }, _time);
        for (ulong s = 1; s <= 100; s++)
        {
            outbox.Append(s, Topics.DetectionsKind, new byte[60]);
        }

        var timings = new StageTimings();
        var reporter = Reporter(timings, outbox, paths, out var detector);
        using (detector)
        {
            for (var i = 0; i < 50; i++)
            {
                timings.Record(PipelineStage.Inference, 20);
                timings.FrameDone();
            }

            _time.Advance(TimeSpan.FromSeconds(10));
            var report = reporter.BuildReport();

            Assert.Equal(5f, report.FramesPerSecond, 3);
            Assert.Equal(48.312f, report.TemperatureC, 3);
            Assert.Equal(0x50005u, report.ThrottledFlags);
            Assert.True(outbox.Evicted > 0, "the tiny outbox should have evicted");
            Assert.Equal((ulong)outbox.Evicted, report.OutboxEvicted);
            Assert.Equal((ulong)outbox.Depth, report.OutboxDepth);
            Assert.Equal(detector.Model.Version, report.ModelVersion);
            Assert.Equal(detector.Model.Sha256, report.ActiveModelSha256);
            Assert.Equal("", report.CandidateModelSha256);

            // 0x50005: under-voltage and throttling now (bits 0 and 2), besides what happened since boot (bits 16, 18).
            Assert.True(report.Throttled);
            Assert.True(report.RssMb > 10);
            Assert.Contains(report.Stages, s => s.Stage == "inference" && s.P50Ms == 20f);
            Assert.Null(report.Envelope);
            report.Envelope = new YoloFleet.Contracts.Wire.Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = "pi-01", Sequence = 101 };
            Assert.True(WireDecoder.TryDecodeTelemetry("pi-01", new System.Buffers.ReadOnlySequence<byte>(Google.Protobuf.MessageExtensions.ToByteArray(report)), out _, out var rejection), rejection?.ToString());
        }
    }

    [Fact]
    public void A_source_error_is_reported_until_frames_flow_again()
    {
        var timings = new StageTimings();
        timings.SourceLost("The image folder '/x' disappeared.");
        Assert.Equal(1, timings.SourceFailures);
        Assert.Equal("The image folder '/x' disappeared.", timings.SourceError);
        timings.FrameDone();
        Assert.Null(timings.SourceError);
        Assert.Equal(1, timings.SourceFailures);
    }

    [Fact]
    public void A_device_without_thermal_zone_reports_null_not_zero()
    {
        var paths = new DeviceHealthPaths { ThermalZone = Path.Combine(_directory, "absent"), Throttled = Path.Combine(_directory, "absent2") };
        using var outbox = new OutboxStore(Path.Combine(_directory, "outbox"), new OutboxOptions(), _time);
        var reporter = Reporter(new StageTimings(), outbox, paths, out var detector);
        using (detector)
        {
            var report = reporter.BuildReport();
            Assert.False(report.HasTemperatureC);
            Assert.False(report.HasThrottledFlags);
            Assert.False(report.Throttled);
        }
    }

    private TelemetryReporter Reporter(StageTimings timings, OutboxStore outbox, DeviceHealthPaths paths, out RunningDetector detector)
    {
        var opened = Detector.Open(SharedData.YoloxNano416);
        detector = new RunningDetector(opened, new RunningModel(opened.Model.Sha256, opened.Model.Version, ModelOrigin.Factory, opened.Model.Path));
        var options = new EdgeAgentOptions { DeviceId = "pi-01" };
        var health = new DeviceHealth(paths, _time);
        return new TelemetryReporter(
            options, timings, health, outbox, new UpstreamWriter(options, new SequenceCounter(Path.Combine(_directory, "seq")), outbox, _time), detector,
            new ModelSlotStore(_directory), new ThrottleMonitor(health, options.Telemetry, _time), _time);
    }
}
