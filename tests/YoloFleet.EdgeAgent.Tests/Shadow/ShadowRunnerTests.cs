using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Shadow;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests.Shadow;

/// <summary>A real pipeline (yolox_nano_416 active) with picodet_s_320 running in shadow beside it, on coco128 frames.</summary>
public sealed class ShadowRunnerTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-shadow-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    public ShadowRunnerTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_shadow_candidate_reports_each_window_and_sends_its_top_disagreement_frames_with_both_models_boxes()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "clip.avi"), frames: 6);
        using var rig = new PipelineTestRig(
            options =>
            {
                options.Pipeline.Slots = 1;
                options.HardFrames.Enabled = true;
                options.HardFrames.SampleRate = 0;
                options.HardFrames.UncertainLow = options.HardFrames.UncertainHigh = 1;
                options.HardFrames.CrowdedMinBoxes = 10_000;
                options.Shadow.SampleRate = 1;
                options.Shadow.MaxCpuShare = 1;
                options.Shadow.WindowSeconds = 1;
                options.Shadow.HardFramesPerWindow = 1;
            },
            _time);
        using var candidate = new ShadowCandidate();
        var picodet = Detector.Open(SharedData.PicoDetS320);
        candidate.Set(new DetectorGeneration(picodet, new RunningModel(picodet.Model.Sha256, "picodet_s_320@1", ModelOrigin.Slot, SharedData.PicoDetS320)));
        var runner = new ShadowRunner(rig.Options, candidate, rig.Upstream, new HardFramePolicy(rig.Options.HardFrames, _time, new Random(1)), _time, NullLogger<ShadowRunner>.Instance, new Random(1));
        var pipeline = new AgentPipeline(
            rig.Options, rig.Detectors, rig.Upstream, new HardFramePolicy(rig.Options.HardFrames, _time, new Random(1)),
            rig.Timings, rig.Liveness, rig.Throttle, _time, NullLogger<AgentPipeline>.Instance, runner)
        {
            // 0.6 s between frames: a 1 s window closes on every second frame after the first.
            Published = _ =>
            {
                _time.Advance(TimeSpan.FromMilliseconds(600));
                return Task.CompletedTask;
            },
        };
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, _time);

        await pipeline.RunAsync(source, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2));

        var messages = new List<OutboxMessage>();
        while (rig.Outbox.TryReadNext() is { } next)
        {
            messages.Add(next);
        }

        // Two windows closed by the frames, and the third, partial one sent when the source ended.
        var windows = messages.Where(m => m.Kind == Topics.ShadowKind).Select(m => ShadowReported.Parser.ParseFrom(m.Payload)).ToList();
        Assert.Equal(3, windows.Count);
        Assert.Equal(3, runner.Windows);
        Assert.All(windows, window =>
        {
            Assert.Equal((2u, 2u, 0u), (window.Frames, window.ShadowedFrames, window.SkippedForBudget));
            Assert.Equal((rig.Detector.Model.Sha256, picodet.Model.Sha256), (window.ActiveSha256, window.CandidateSha256));
            Assert.True(window.CandidateP50Ms > 0 && window.ActiveP50Ms > 0, "both latencies measured");
            Assert.InRange(window.ShadowCpuShare, 0.05f, 0.95f);
            Assert.Equal(1_200, window.WindowEndUnixMs - window.WindowStartUnixMs);
        });
        Assert.True(windows.Sum(w => w.Matched) > 0, "the two models agree on some boxes");
        Assert.True(windows.Sum(w => w.OnlyActive + w.OnlyCandidate) > 0, "and disagree on others");

        // At most one hard frame per window (the last window's too): its own frame's boxes from the active model, and the candidate's beside them.
        var detections = messages.Where(m => m.Kind == Topics.DetectionsKind).Select(m => DetectionsPublished.Parser.ParseFrom(m.Payload)).ToDictionary(m => m.Envelope.Sequence);
        var hard = messages.Where(m => m.Kind == Topics.HardFramesKind).Select(m => HardFrameUploaded.Parser.ParseFrom(m.Payload)).ToList();
        Assert.InRange(hard.Count, 1, 3);
        Assert.Equal(hard.Count, runner.HardFramesSent);
        Assert.All(hard, frame =>
        {
            Assert.Equal(ShadowRunner.DisagreementReason, frame.Reason);
            Assert.Equal((picodet.Model.Sha256, "picodet_s_320@1"), (frame.ShadowModelSha256, frame.ShadowModelVersion));
            Assert.Equal(detections[frame.DetectionsSequence].Detections, frame.Detections);
            Assert.Equal(rig.Detector.Model.Sha256, frame.ModelSha256);
            Assert.NotEqual(0, frame.Detections.Count + frame.ShadowDetections.Count);
            Assert.True(frame.Jpeg.Length > 1000);
        });
    }

    [Fact]
    public async Task When_the_agent_stops_the_partial_window_goes_through_the_outbox()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "stop.avi"), frames: 4);
        using var rig = new PipelineTestRig(
            options =>
            {
                options.Pipeline.Slots = 1;
                options.Shadow.SampleRate = 1;
                options.Shadow.MaxCpuShare = 1;
                options.Shadow.WindowSeconds = 3600;
                options.Shadow.HardFramesPerWindow = 0;
            },
            _time);
        using var candidate = new ShadowCandidate();
        var picodet = Detector.Open(SharedData.PicoDetS320);
        candidate.Set(new DetectorGeneration(picodet, new RunningModel(picodet.Model.Sha256, "picodet_s_320@1", ModelOrigin.Slot, SharedData.PicoDetS320)));
        var runner = new ShadowRunner(rig.Options, candidate, rig.Upstream, new HardFramePolicy(rig.Options.HardFrames, _time, new Random(1)), _time, NullLogger<ShadowRunner>.Instance, new Random(1));
        using var stop = new CancellationTokenSource();
        var published = 0;
        var pipeline = new AgentPipeline(
            rig.Options, rig.Detectors, rig.Upstream, new HardFramePolicy(rig.Options.HardFrames, _time, new Random(1)),
            rig.Timings, rig.Liveness, rig.Throttle, _time, NullLogger<AgentPipeline>.Instance, runner)
        {
            // The agent is stopped after the second frame, an hour before the window would close by itself.
            Published = _ =>
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                if (++published == 2)
                {
                    stop.Cancel();
                }

                return Task.CompletedTask;
            },
        };
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, _time);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.RunAsync(source, stop.Token).WaitAsync(TimeSpan.FromMinutes(2)));

        var windows = new List<ShadowReported>();
        while (rig.Outbox.TryReadNext() is { } next)
        {
            if (next.Kind == Topics.ShadowKind)
            {
                windows.Add(ShadowReported.Parser.ParseFrom(next.Payload));
            }
        }

        // The frames up to the stop (a frame already inferred may still be published after it: two or three).
        var window = Assert.Single(windows);
        Assert.Equal(1, runner.Windows);
        Assert.InRange(window.Frames, 2u, 3u);
        Assert.Equal((window.Frames, picodet.Model.Sha256), (window.ShadowedFrames, window.CandidateSha256));
        Assert.Equal(window.Frames * 1_000L, window.WindowEndUnixMs - window.WindowStartUnixMs);
    }

    [Fact]
    public void Without_a_candidate_nothing_is_run_or_reported()
    {
        using var rig = new PipelineTestRig(time: _time);
        using var candidate = new ShadowCandidate();
        var runner = new ShadowRunner(rig.Options, candidate, rig.Upstream, new HardFramePolicy(rig.Options.HardFrames, _time, new Random(1)), _time, NullLogger<ShadowRunner>.Instance);
        using var image = new OpenCvSharp.Mat(32, 32, OpenCvSharp.MatType.CV_8UC3);
        using var frame = new CapturedFrame(image.Clone(), "f#1", _time.GetUtcNow());
        for (var i = 0; i < 3; i++)
        {
            runner.OnFrame(frame, [], new DetectionsPublished { Envelope = new Envelope { Sequence = 1 } }, 10);
            _time.Advance(TimeSpan.FromMinutes(2));
        }

        Assert.Equal((0L, 0L), (runner.Windows, rig.Outbox.Depth));
    }
}
