using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Scene;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.Inference.Scene;
using ObjectEventKind = YoloFleet.Contracts.Wire.ObjectEventKind;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>
/// The pipeline with a scene (a video of the synthetic walker): per-frame detections All, Sampled or None beside the
/// object events, in both modes; when the source ends, the object ends with it.
/// </summary>
[Trait("Category", "Scene")]
public sealed class PipelineSceneTests : IDisposable
{
    private const int Frames = 60;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-pipe-scene-" + Guid.NewGuid().ToString("N")[..8]);

    public PipelineSceneTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(SceneMode.WholeFrame, DetectionsPublishing.All, Frames)]
    [InlineData(SceneMode.WholeFrame, DetectionsPublishing.Sampled, 1)]
    [InlineData(SceneMode.MotionGated, DetectionsPublishing.None, 0)]
    [InlineData(SceneMode.MotionGated, DetectionsPublishing.All, Frames)]
    public async Task Detections_messages_follow_the_setting_and_the_walker_is_one_object_ended_with_the_source(
        SceneMode mode, DetectionsPublishing publish, int detectionMessages)
    {
        var video = WriteWalk(Path.Combine(_directory, "walk.avi"));
        using var rig = new PipelineTestRig(options =>
        {
            options.Scene.Mode = mode;
            options.ObjectEvents.Enabled = true;
            options.Detection.Publish = publish;
            options.Detection.SampleSeconds = 3600;

            // Frame times are capture times: paced like the 10 frames/s camera the video stands for (a run paced by the
            // detector alone would squeeze the walk into a fraction of a second of frame time).
            options.Source.MaxFps = 10;
        });
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: false, rig.Time);

        await rig.Pipeline.RunAsync(source, CancellationToken.None);

        Assert.Equal(detectionMessages, rig.PublishedCount);
        Assert.Equal(detectionMessages, rig.Pipeline.DetectionMessages);
        Assert.Equal(Frames, rig.Pipeline.FramesPublished);
        var events = new List<ObjectEventPublished>();
        while (rig.Outbox.TryReadNext() is { } message)
        {
            if (message.Kind == Topics.ObjectEventsKind)
            {
                events.Add(ObjectEventPublished.Parser.ParseFrom(message.Payload));
            }
        }

        var start = Assert.Single(events, e => e.Kind == ObjectEventKind.Started);
        var end = Assert.Single(events, e => e.Kind == ObjectEventKind.Ended);
        Assert.Equal(start.ObjectId, end.ObjectId);
        Assert.False(end.Recovered);
        Assert.Empty(new OpenObjectStore(rig.StateDirectory).Open);
        var scene = rig.Pipeline.Scene!;
        if (mode == SceneMode.MotionGated)
        {
            // 20 static frames cost one whole-frame look; the walk, a run every ActiveDetectionSeconds at most.
            Assert.True(scene.FramesSkipped >= 19, $"{scene.FramesSkipped} frames skipped");
            Assert.True(scene.DetectorRuns < Frames, $"{scene.DetectorRuns} detector runs for {Frames} frames");
        }
    }

    /// <summary>20 static frames, then the walker crossing for 40 (it is still in view when the video ends).</summary>
    private static string WriteWalk(string path)
    {
        using var walker = new WalkerVideo();
        using var writer = new VideoWriter(path, FourCC.MJPG, 10, new Size(640, 480));
        Assert.True(writer.IsOpened(), $"this OpenCV build cannot write MJPG AVI to {path}");
        for (var i = 0; i < Frames; i++)
        {
            using var frame = walker.Frame(i, walker: i >= 20 ? i - 20 : null);
            writer.Write(frame);
        }

        return path;
    }
}
