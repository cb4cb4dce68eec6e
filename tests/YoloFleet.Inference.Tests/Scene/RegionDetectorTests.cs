using OpenCvSharp;
using YoloFleet.Inference.Scene;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>
/// yolox_nano_416 on crops of a frame: a crop is a view of the frame's pixels, and its boxes come back in frame pixels
/// exactly where the same picture alone puts them plus the crop's corner.
/// </summary>
[Trait("Category", "Scene")]
public sealed class RegionDetectorTests(YoloxNanoFixture fixture) : IClassFixture<YoloxNanoFixture>
{
    private readonly Detector _detector = fixture.Detector;

    [Theory]
    [InlineData("000000000009", 317, 211)]
    [InlineData("000000000036", 1, 959)]
    [InlineData("000000000074", 555, 0)]
    public void A_crop_gives_the_pictures_own_boxes_moved_by_its_corner_bit_for_bit(string imageId, int left, int top)
    {
        using var picture = ImageFile.Read(Path.Combine(SharedData.Coco128Images, imageId + ".jpg"));
        using var frame = new Mat(1600, 1400, MatType.CV_8UC3, new Scalar(114, 114, 114));
        var region = new PixelRect(left, top, picture.Width, picture.Height);
        picture.CopyTo(new Mat(frame, new Rect(left, top, picture.Width, picture.Height)));
        var alone = _detector.Detect(picture);
        Assert.True(alone.Length >= 2, $"{imageId}: {alone.Length} detections; the test needs a picture with objects");

        var detector = new RegionDetector(_detector);
        var found = new List<Detection>();
        detector.Detect(frame, [region], found);

        // Expected: the picture's boxes plus the corner, in the detector's order, except those at the picture's edge
        // (cut by the crop, as far as the scene can tell: they are left to a neighbouring crop or to the tracker).
        var expected = alone
            .Select(box => box with { X1 = box.X1 + left, Y1 = box.Y1 + top, X2 = box.X2 + left, Y2 = box.Y2 + top })
            .Where(box => !RegionMapping.IsCutByRegionEdge(box, region, frame.Width, frame.Height))
            .ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, found);
        Assert.Equal(alone.Length - expected.Count, detector.CutBoxes);
        Assert.Equal(1, detector.Invocations);
    }

    [Fact]
    public void A_crop_is_a_view_of_the_frame_not_a_copy()
    {
        using var frame = new Mat(576, 768, MatType.CV_8UC3, new Scalar(1, 2, 3));
        using var view = new Mat(frame, new Rect(100, 50, 416, 416));

        Assert.Equal(frame.Data + (nint)(50 * frame.Step() + 100 * 3), view.Data);

        Assert.False(view.IsContinuous());
    }

    [Fact]
    public void Two_crops_give_both_pictures_objects_and_the_overlap_is_merged_once()
    {
        using var picture = ImageFile.Read(Path.Combine(SharedData.Coco128Images, "000000000009.jpg"));
        using var frame = new Mat(1200, 1800, MatType.CV_8UC3, new Scalar(114, 114, 114));
        picture.CopyTo(new Mat(frame, new Rect(20, 30, picture.Width, picture.Height)));
        picture.CopyTo(new Mat(frame, new Rect(1000, 600, picture.Width, picture.Height)));
        var first = new PixelRect(20, 30, picture.Width, picture.Height);
        var second = new PixelRect(1000, 600, picture.Width, picture.Height);
        // The second crop twice: the duplicate's boxes are merged away.
        var detector = new RegionDetector(_detector);
        var both = new List<Detection>();
        detector.Detect(frame, [first, second, second], both);

        var one = new List<Detection>();
        detector.Detect(frame, [first], one);
        var other = new List<Detection>();
        detector.Detect(frame, [second], other);

        Assert.Equal(one.Count + other.Count, both.Count);
        Assert.All(one, box => Assert.Contains(box, both));
        Assert.All(other, box => Assert.Contains(box, both));
    }

    [Fact]
    public void The_motion_gate_reads_a_mats_pixels_in_place()
    {
        using var frame = new Mat(240, 320, MatType.CV_8UC3, new Scalar(10, 20, 30));
        using var roi = new Mat(frame, new Rect(8, 4, 100, 50));

        var view = RegionDetector.ViewOf(roi);

        Assert.Equal((100, 50, FramePixelFormat.Bgr24), (view.Width, view.Height, view.Format));
        Assert.Equal(320 * 3, view.Stride);
        Assert.Equal([10, 20, 30], view.Row(49)[^3..].ToArray());
        using var floats = new Mat(10, 10, MatType.CV_32FC1);
        Assert.Throws<ArgumentException>(() => RegionDetector.ViewOf(floats));
    }
}
