using System.Text.Json;
using OpenCvSharp;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Benchmarking;

/// <summary>What `yolofleet detect` does, on small temporary inputs.</summary>
public sealed class DetectionRunTests(YoloxNanoFixture fixture) : IClassFixture<YoloxNanoFixture>
{
    private const string Kitchen = "000000000009";
    private const string Giraffes = "000000000025";

    [Fact]
    public void Folder_gives_annotated_jpegs_and_json_and_skips_unreadable_images()
    {
        using var input = new TempFolder();
        using var output = new TempFolder();
        File.Copy(CocoLabels.ImagePath(Kitchen), input.File("kitchen.jpg"));
        File.Copy(CocoLabels.ImagePath(Giraffes), input.File("giraffes.jpg"));
        input.Write("broken.jpg", "not a jpeg");
        input.Write("readme.txt", "ignored: not an image extension");
        var lines = new StringWriter();

        using var frames = FrameInput.Open(input.Path);
        var summary = DetectionRun.Run(fixture.Detector, frames, new DetectionRunOptions { OutputFolder = output.Path, JsonLines = lines });

        Assert.Equal(FrameInputKind.Folder, frames.Kind);
        Assert.Equal(2, summary.Frames);
        Assert.Equal("broken.jpg", Path.GetFileName(Assert.Single(summary.Skipped).File));
        Assert.Equal(2, summary.AnnotatedWritten);
        foreach (var name in new[] { "kitchen", "giraffes" })
        {
            using var original = ImageFile.Read(input.File(name + ".jpg"));
            using var annotated = ImageFile.Read(output.File(name + ".jpg"));
            Assert.Equal(original.Size(), annotated.Size());
            // Boxes were drawn: the annotated image differs from a plain re-encode of the original.
            using var difference = new Mat();
            Cv2.Absdiff(original, annotated, difference);
            Assert.True(Cv2.Sum(difference).Val0 > 0);
        }

        using var json = JsonDocument.Parse(File.ReadAllText(summary.JsonPath!));
        var frameObjects = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(["giraffes.jpg", "kitchen.jpg"], frameObjects.Select(frame => frame.GetProperty("file").GetString()));
        var giraffes = frameObjects[0];
        Assert.Equal(1, giraffes.GetProperty("frame").GetInt32());
        Assert.Equal(640, giraffes.GetProperty("width").GetInt32());
        Assert.True(giraffes.GetProperty("height").GetInt32() > 0);
        var detections = giraffes.GetProperty("detections").EnumerateArray().ToList();
        Assert.Contains(detections, detection => detection.GetProperty("className").GetString() == "giraffe");
        Assert.All(detections, detection =>
        {
            foreach (var key in new[] { "classId", "score", "x1", "y1", "x2", "y2" })
            {
                Assert.Equal(JsonValueKind.Number, detection.GetProperty(key).ValueKind);
            }
        });

        var jsonLines = lines.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, jsonLines.Length);
        Assert.All(jsonLines, line => Assert.True(JsonDocument.Parse(line).RootElement.TryGetProperty("detections", out _)));
    }

    [Fact]
    public void Video_frames_are_numbered_in_order()
    {
        using var folder = new TempFolder();
        var video = folder.File("clip.avi");
        using (var image = ImageFile.Read(CocoLabels.ImagePath(Giraffes)))
        using (var writer = new VideoWriter(video, FourCC.MJPG, 5, image.Size()))
        {
            Assert.True(writer.IsOpened(), "OpenCV cannot write MJPG .avi here");
            for (var i = 0; i < 3; i++)
            {
                writer.Write(image);
            }
        }

        var output = Path.Combine(folder.Path, "out");
        var text = new StringWriter();
        using var frames = FrameInput.Open(video);
        var summary = DetectionRun.Run(fixture.Detector, frames, new DetectionRunOptions { OutputFolder = output, Text = text });

        Assert.Equal(FrameInputKind.Video, frames.Kind);
        Assert.Equal(3, summary.Frames);
        Assert.Equal(["clip_000000.jpg", "clip_000001.jpg", "clip_000002.jpg"],
            Directory.EnumerateFiles(output, "*.jpg").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, DetectionRun.JsonFileName)));
        Assert.Equal([0, 1, 2], json.RootElement.EnumerateArray().Select(frame => frame.GetProperty("frame").GetInt32()));
        Assert.Contains("clip.avi frame 2", text.ToString());
        Assert.Contains("giraffe", text.ToString());
    }

    [Fact]
    public void Unreadable_inputs_fail_at_open_with_the_path()
    {
        using var folder = new TempFolder();
        var missing = folder.File("missing.jpg");
        var notes = folder.Write("notes.txt", "neither image nor video");
        var truncated = folder.Write("truncated.jpg", File.ReadAllBytes(CocoLabels.ImagePath(Kitchen))[..64]);

        Assert.Contains(missing, Assert.Throws<ImageReadException>(() => FrameInput.Open(missing)).Message);
        Assert.Contains(notes, Assert.Throws<ImageReadException>(() => FrameInput.Open(notes)).Message);
        Assert.Contains(truncated, Assert.Throws<ImageReadException>(() => FrameInput.Open(truncated)).Message);
        using var empty = new TempFolder();
        empty.Write("notes.txt", "no images here");
        Assert.Contains("no image files", Assert.Throws<ImageReadException>(() => FrameInput.Open(empty.Path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_to_write_into_the_input_folder()
    {
        using var input = new TempFolder();
        File.Copy(CocoLabels.ImagePath(Kitchen), input.File("kitchen.jpg"));
        using var frames = FrameInput.Open(input.File("kitchen.jpg"));

        var error = Assert.Throws<ArgumentException>(() =>
            DetectionRun.Run(fixture.Detector, frames, new DetectionRunOptions { OutputFolder = input.Path }));
        Assert.Contains("overwrite", error.Message);
    }
}
