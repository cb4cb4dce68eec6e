using Xunit.Abstractions;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>PP-PicoDet-S (GFL layout, RGB + mean/std, stretched) against coco128's labels.</summary>
public sealed class PicoDetCoco128Tests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("picodet_s_320_coco", 320)]
    [InlineData("picodet_s_416_coco", 416)]
    public void Recognises_the_layout_and_reads_metadata(string name, int size)
    {
        using var detector = Detector.Open(SharedData.Path("models", "picodet_s", name + ".onnx"));

        Assert.Equal("picodet-gfl", detector.Model.Layout);
        Assert.Equal((size, size), (detector.Model.InputWidth, detector.Model.InputHeight));
        Assert.Equal("person", detector.Model.ClassNames[0]);
        Assert.Matches($"^{name}@[0-9a-f]{{12}}$", detector.Model.Version);
    }

    // Measured when written (confidence 0.25, IoU 0.5, same class): 320 recall 0.534 (496/929), precision 0.403;
    // 416 recall 0.589 (547/929), precision 0.402. Swapping RGB for BGR, or the cell centre offset 0.5 for 0, drops them.
    [Theory]
    [InlineData("picodet_s_320_coco", 0.48, 0.35)]
    [InlineData("picodet_s_416_coco", 0.53, 0.35)]
    public void Recall_and_precision_over_all_of_coco128_stay_near_the_measured_values(string name, double minRecall, double minPrecision)
    {
        using var detector = Detector.Open(SharedData.Path("models", "picodet_s", name + ".onnx"), new DetectorOptions { IntraOpThreads = 2 });
        int labelled = 0, found = 0, detections = 0;
        foreach (var labelFile in Directory.GetFiles(SharedData.Coco128Labels, "*.txt").Order())
        {
            var imageId = Path.GetFileNameWithoutExtension(labelFile);
            using var image = ImageFile.Read(CocoLabels.ImagePath(imageId));
            var labels = CocoLabels.Read(imageId, image.Width, image.Height);
            var detected = detector.Detect(image);
            found += CocoLabels.CountMatched(labels, detected);
            labelled += labels.Count;
            detections += detected.Length;
            Assert.All(detected, detection => Assert.True(detection.X1 >= 0 && detection.X2 <= image.Width && detection.Y1 >= 0 && detection.Y2 <= image.Height));
        }

        var recall = (double)found / labelled;
        var precision = (double)found / detections;
        output.WriteLine($"{name}: recall {recall:F3} ({found}/{labelled}), precision {precision:F3} ({found}/{detections})");
        Assert.True(recall >= minRecall, $"Recall {recall:F3} ({found}/{labelled}); expected at least {minRecall}.");
        Assert.True(precision >= minPrecision, $"Precision {precision:F3} ({found}/{detections}); expected at least {minPrecision}.");
    }
}
