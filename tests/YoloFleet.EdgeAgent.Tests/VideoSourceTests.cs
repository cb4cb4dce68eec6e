using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class VideoSourceTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-video-" + Guid.NewGuid().ToString("N"));

    public VideoSourceTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_video_file_written_here_reads_back_frame_by_frame()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "clip.avi"), frames: 12);
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, TimeProvider.System);

        var refs = new List<string>();
        foreach (var frame in source.ReadFrames())
        {
            using (frame)
            {
                Assert.Equal(320, frame.Image.Width);
                Assert.Equal(240, frame.Image.Height);
                Assert.Equal(3, frame.Image.Channels());
                refs.Add(frame.FrameRef);
            }
        }

        Assert.Equal([.. Enumerable.Range(1, 12).Select(i => $"clip.avi#{i}")], refs);
        Assert.False(source.IsLive);
    }

    [Fact]
    public void A_looping_video_starts_again_after_its_last_frame()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "loop.avi"), frames: 3);
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: true, TimeProvider.System);

        var frames = source.ReadFrames().Take(8).ToList();
        Assert.Equal(8, frames.Count);
        Assert.Equal("loop.avi#8", frames[^1].FrameRef);

        // Frame 4 is frame 1 again.
        using var difference = new OpenCvSharp.Mat();
        OpenCvSharp.Cv2.Absdiff(frames[0].Image, frames[3].Image, difference);
        Assert.Equal(0, OpenCvSharp.Cv2.CountNonZero(difference.Reshape(1)));
        frames.ForEach(frame => frame.Dispose());
    }

    [Fact]
    public void A_missing_or_undecodable_video_is_a_lost_source_with_the_reason()
    {
        using var missing = new VideoCaptureSource(VideoSourceKind.File, Path.Combine(_directory, "absent.avi"), loop: false, TimeProvider.System);
        var ex = Assert.Throws<SourceUnavailableException>(() => missing.ReadFrames().First());
        Assert.Contains("absent.avi' does not exist", ex.Message, StringComparison.Ordinal);

        var garbage = Path.Combine(_directory, "garbage.avi");
        File.WriteAllBytes(garbage, new byte[4096]);
        using var damaged = new VideoCaptureSource(VideoSourceKind.File, garbage, loop: true, TimeProvider.System);
        ex = Assert.Throws<SourceUnavailableException>(() => damaged.ReadFrames().First());
        Assert.Contains("garbage.avi", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("97", "/dev/video97")]
    [InlineData("/dev/video98", "/dev/video98")]
    public void A_missing_camera_is_a_lost_source_that_names_the_device(string camera, string device)
    {
        using var source = new VideoCaptureSource(VideoSourceKind.Camera, camera, loop: false, TimeProvider.System);
        Assert.True(source.IsLive);
        var ex = Assert.Throws<SourceUnavailableException>(() => source.ReadFrames().First());
        Assert.Contains($"camera '{device}' does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreachable_stream_is_a_lost_source()
    {
        // Port 9 on loopback (discard) has no listener here: the connection is refused at once.
        using var source = new VideoCaptureSource(VideoSourceKind.Stream, "http://127.0.0.1:9/live.mjpg", loop: false, TimeProvider.System);
        Assert.True(source.IsLive);
        var ex = Assert.Throws<SourceUnavailableException>(() => source.ReadFrames().First());
        Assert.Contains("stream 'http://127.0.0.1:9/live.mjpg' cannot be opened", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agent_reports_a_missing_camera_and_keeps_retrying()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = "cam-01",
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = Path.Combine(_directory, "state"),
            ["Agent:Source:Camera"] = "/dev/video99",
            ["Agent:Broker:Port"] = "1",
        };
        using var host = EdgeAgentHost.Build([], settings);
        var timings = host.Services.GetRequiredService<StageTimings>();
        await host.StartAsync();
        try
        {
            // Back-off 1 s then 2 s: the third attempt comes about 3 s after the first.
            Assert.True(await Eventually.TrueAsync(() => timings.SourceFailures >= 3, TimeSpan.FromSeconds(20)), $"failures: {timings.SourceFailures}");
            Assert.Contains("camera '/dev/video99' does not exist", timings.SourceError, StringComparison.Ordinal);
            Assert.Equal(0, timings.Frames);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_video_that_disappears_is_reported_retried_and_picked_up_again_when_it_returns()
    {
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "cam.avi"), frames: 4);
        var settings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = "video-01",
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = Path.Combine(_directory, "state"),
            ["Agent:Source:Video"] = video,
            ["Agent:Source:Loop"] = "true",
            ["Agent:HardFrames:Enabled"] = "false",
            ["Agent:Broker:Port"] = "1",
        };
        using var host = EdgeAgentHost.Build([], settings);
        var timings = host.Services.GetRequiredService<StageTimings>();
        await host.StartAsync();
        try
        {
            Assert.True(await Eventually.TrueAsync(() => timings.Frames >= 4, TimeSpan.FromSeconds(30)));

            // Gone: the next pass cannot reopen it.
            File.Move(video, video + ".away");
            Assert.True(await Eventually.TrueAsync(() => timings.SourceFailures >= 1, TimeSpan.FromSeconds(30)));
            Assert.Contains("cam.avi' does not exist", timings.SourceError, StringComparison.Ordinal);
            var framesWhileAway = timings.Frames;

            // Back: the retry picks it up, frames flow again and the error clears.
            File.Move(video + ".away", video);
            Assert.True(await Eventually.TrueAsync(() => timings.Frames > framesWhileAway + 4, TimeSpan.FromSeconds(30)), $"frames: {timings.Frames}");
            Assert.Null(timings.SourceError);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Theory]
    [InlineData(null, null, null, null, "none is set")]
    [InlineData("FOLDER", "x.avi", null, null, "Folder and Video are set")]
    [InlineData(null, null, "ftp://camera/live", null, "is not an rtsp://")]
    public void Exactly_one_valid_source_must_be_configured(string? folder, string? video, string? stream, string? camera, string expected)
    {
        var options = new SourceOptions
        {
            Folder = folder == "FOLDER" ? _directory : folder ?? "",
            Video = video ?? "",
            Stream = stream ?? "",
            Camera = camera ?? "",
        };
        var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).ToList();
        Assert.Contains(errors, error => error.ErrorMessage!.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void The_source_options_pick_the_source()
    {
        using var folder = FrameSources.Open(new SourceOptions { Folder = _directory }, TimeProvider.System);
        using var camera = FrameSources.Open(new SourceOptions { Camera = "0" }, TimeProvider.System);
        using var stream = FrameSources.Open(new SourceOptions { Stream = "rtsp://cam.local/live" }, TimeProvider.System);
        Assert.IsType<ImageFolderSource>(folder);
        Assert.Equal("camera '/dev/video0'", camera.Description);
        Assert.Equal("stream 'rtsp://cam.local/live'", stream.Description);
    }
}
