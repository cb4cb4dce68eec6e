using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class PipelineTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-pipeline-" + Guid.NewGuid().ToString("N"));

    public PipelineTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Overlapped_stages_publish_every_frame_in_order_with_consecutive_sequences(int slots)
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "clip.avi"), frames: 10);
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = slots);
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, rig.Time);

        await rig.Pipeline.RunAsync(source, CancellationToken.None);

        Assert.Equal([.. Enumerable.Range(1, 10).Select(i => $"clip.avi#{i}")], rig.Published.Select(m => m.FrameRef));
        Assert.Equal([.. Enumerable.Range(1, 10).Select(i => (ulong)i)], rig.Published.Select(m => m.Envelope.Sequence));
        Assert.Equal(10, rig.Outbox.Depth);
        Assert.Equal(10, rig.Timings.Frames);
        Assert.Equal(0, rig.Timings.Dropped);
        Assert.All(rig.Published, m => Assert.Equal((320u, 240u), (m.FrameWidth, m.FrameHeight)));
        Assert.Contains(rig.Timings.Percentiles(), stage => stage.Stage == Telemetry.PipelineStage.Inference && stage.P50 > 0);
    }

    [Fact]
    public async Task The_overlapped_pipeline_finds_what_the_plain_detector_finds()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "same.avi"), frames: 6);
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 3);
        using (var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, rig.Time))
        {
            await rig.Pipeline.RunAsync(source, CancellationToken.None);
        }

        // The same frames through Detect, one at a time: the staged calls must give identical boxes.
        using var again = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, rig.Time);
        using var detector = Detector.Open(SharedData.YoloxNano416);
        var i = 0;
        foreach (var frame in again.ReadFrames())
        {
            using (frame)
            {
                var expected = detector.Detect(frame.Image);
                var got = rig.Published[i++].Detections;
                Assert.Equal(expected.Length, got.Count);
                Assert.Equal(expected.Select(d => (d.ClassId, d.Score, d.X1, d.Y2)), got.Select(d => ((int)d.ClassId, d.Score, d.X1, d.Y2)));
            }
        }

        Assert.Equal(6, i);
        Assert.Contains(rig.Published, m => m.Detections.Count > 0);
    }

    [Fact]
    public void The_staged_detector_calls_allocate_no_buffers_per_frame()
    {
        using var detector = Detector.Open(SharedData.YoloxNano416);
        using var image = ImageFile.Read(Directory.EnumerateFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal).First());
        DetectorSlot[] slots = [detector.CreateSlot(), detector.CreateSlot()];
        var results = new List<Detection>(64);
        for (var i = 0; i < 4; i++)
        {
            detector.Preprocess(image, slots[i % 2]);
            detector.Infer(slots[i % 2]);
            detector.Postprocess(slots[i % 2], results);
        }

        const int frames = 10;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < frames; i++)
        {
            detector.Preprocess(image, slots[i % 2]);
            detector.Infer(slots[i % 2]);
            detector.Postprocess(slots[i % 2], results);
        }

        var perFrame = (GC.GetAllocatedBytesForCurrentThread() - before) / frames;
        Assert.NotEmpty(results);

        // One input tensor alone is 2 MB (3x416x416 floats): any per-frame buffer would blow far past this bound.
        Assert.True(perFrame < 64 * 1024, $"{perFrame} bytes allocated per frame");
        Assert.True(slots[1].Timings.InferenceMs > 0);
    }

    [Fact]
    public void A_slot_from_another_detector_is_refused_with_the_reason()
    {
        using var first = Detector.Open(SharedData.YoloxNano416);
        using var second = Detector.Open(SharedData.YoloxNano416);
        var foreign = first.CreateSlot();
        var ex = Assert.Throws<ArgumentException>(() => second.Infer(foreign));
        Assert.Contains("created by another detector", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_load_a_live_source_drops_old_frames_counts_them_and_the_newest_wins()
    {
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 2);
        using var source = new FastLiveSource(frames: 120, interval: TimeSpan.FromMilliseconds(2));

        await rig.Pipeline.RunAsync(source, CancellationToken.None);

        var processed = rig.Published.Select(m => int.Parse(m.FrameRef["live#".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(rig.Timings.Dropped > 0, "a source 10x faster than the detector must drop frames");

        // Every frame offered was either processed or dropped and counted.
        Assert.Equal(source.Produced, processed.Count + rig.Timings.Dropped);

        // In order, skipping the stale ones, and the newest frame is the last one processed.
        Assert.Equal(processed.Order(), processed);
        Assert.Equal(processed.Count, processed.Distinct().Count());
        Assert.Equal(source.Produced, processed[^1]);
        Assert.True(processed.Count < source.Produced / 2, $"processed {processed.Count} of {source.Produced}");

        // Telemetry reports the drops.
        Assert.Equal((ulong)rig.Timings.Dropped, rig.TelemetryReport().FramesDropped);
    }

    [Fact]
    public async Task A_file_source_is_never_dropped_even_when_the_detector_is_slower()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "all.avi"), frames: 8);
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 2);
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, rig.Time);

        await rig.Pipeline.RunAsync(source, CancellationToken.None);

        Assert.Equal(8, rig.PublishedCount);
        Assert.Equal(0, rig.Timings.Dropped);
    }

    [Fact]
    public async Task The_frame_rate_cap_holds_each_frame_until_its_slot()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "capped.avi"), frames: 4);
        using var rig = new PipelineTestRig(options => options.Source.MaxFps = 5, time);
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, time);

        var run = rig.Pipeline.RunAsync(source, CancellationToken.None);

        // The first frame goes at once; each next one only when the fake clock reaches its 200 ms slot.
        Assert.True(await Eventually.TrueAsync(() => rig.PublishedCount == 1, TimeSpan.FromSeconds(20)));
        for (var expected = 2; expected <= 4; expected++)
        {
            time.Advance(TimeSpan.FromMilliseconds(150));
            await Task.Delay(300);
            Assert.Equal(expected - 1, rig.PublishedCount);
            time.Advance(TimeSpan.FromMilliseconds(50));
            Assert.True(await Eventually.TrueAsync(() => rig.PublishedCount == expected, TimeSpan.FromSeconds(20)), $"frame {expected}");
        }

        await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(4, rig.PublishedCount);
    }

    [Fact]
    public async Task MaxFrames_stops_the_run_after_exactly_that_many()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "max.avi"), frames: 5);
        using var rig = new PipelineTestRig(options => (options.Source.MaxFrames, options.Pipeline.Slots) = (7, 3));
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: true, rig.Time);

        await rig.Pipeline.RunAsync(source, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(7, rig.PublishedCount);
        Assert.Equal(7, rig.Outbox.Depth);
        Assert.Equal("max.avi#7", rig.Published[^1].FrameRef);
    }

    [Fact]
    public async Task A_source_lost_mid_run_publishes_what_it_captured_then_reports_the_loss()
    {
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 3);
        using var source = new FastLiveSource(frames: 5, interval: TimeSpan.FromMilliseconds(40), loseAfter: true);

        var ex = await Assert.ThrowsAsync<SourceUnavailableException>(() => rig.Pipeline.RunAsync(source, CancellationToken.None));

        Assert.Equal("the test camera was unplugged", ex.Message);
        Assert.Equal(source.Produced, rig.PublishedCount + rig.Timings.Dropped);
        Assert.Equal("live#5", rig.Published[^1].FrameRef);
    }

    [Fact]
    public async Task Cancelling_stops_every_stage_and_releases_the_frames()
    {
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 3);
        using var source = new FastLiveSource(frames: 100_000, interval: TimeSpan.FromMilliseconds(5));
        using var cancel = new CancellationTokenSource();

        var run = rig.Pipeline.RunAsync(source, cancel.Token);
        Assert.True(await Eventually.TrueAsync(() => rig.PublishedCount >= 3, TimeSpan.FromSeconds(30)));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(source.Produced < 100_000);
        Assert.Equal(0, source.LiveFrames);
    }

    [Theory]
    [InlineData("Agent:Pipeline:Slots", "0", "Agent:Pipeline")]
    [InlineData("Agent:Source:Folder", "", "Set exactly one frame source")]
    [InlineData("Agent:Source:Stream", "rtsp://cam.local/live", "Folder and Stream are set")]
    public void A_wrong_source_or_pipeline_setting_stops_the_agent_and_names_it(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Agent:DeviceId"] = "pi-01",
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = Path.Combine(_directory, "state"),
            ["Agent:Source:Folder"] = _directory,
            [key] = value,
        };
        using var host = EdgeAgentHost.Build([], settings);
        var ex = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value);
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A live source faster than the detector, like a camera: it produces a frame every <c>interval</c> whether or not
    /// the pipeline takes it, numbered live#1, live#2, ... It counts frames not yet disposed.
    /// </summary>
    private sealed class FastLiveSource(int frames, TimeSpan interval, bool loseAfter = false) : IFrameSource
    {
        private readonly OpenCvSharp.Mat _image = OpenCvSharp.Cv2.ImRead(Directory.EnumerateFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal).First());
        private int _produced;
        private int _live;

        public int Produced => Volatile.Read(ref _produced);

        public int LiveFrames => Volatile.Read(ref _live);

        public string Description => "test camera";

        public bool IsLive => true;

        public long UnreadableFrames => 0;

        public IEnumerable<CapturedFrame> ReadFrames()
        {
            for (var i = 1; i <= frames; i++)
            {
                Thread.Sleep(interval);
                Interlocked.Increment(ref _produced);
                Interlocked.Increment(ref _live);
                yield return new CapturedFrame(new CountedMat(_image, () => Interlocked.Decrement(ref _live)), $"live#{i}", DateTimeOffset.UtcNow);
            }

            if (loseAfter)
            {
                throw new SourceUnavailableException("the test camera was unplugged");
            }
        }

        public void Dispose() => _image.Dispose();
    }

    /// <summary>A copy of an image that reports its disposal, so a test can tell that no frame leaked.</summary>
    private sealed class CountedMat : OpenCvSharp.Mat
    {
        private readonly Action _disposed;

        public CountedMat(OpenCvSharp.Mat image, Action disposed)
            : base(image.Size(), image.Type())
        {
            image.CopyTo(this);
            _disposed = disposed;
        }

        protected override void DisposeManaged()
        {
            _disposed();
            base.DisposeManaged();
        }
    }
}
