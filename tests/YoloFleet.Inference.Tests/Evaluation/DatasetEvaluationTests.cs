using YoloFleet.Inference.Evaluation;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Evaluation;

/// <summary>The image loop that `yolofleet eval` runs: limit, progress, and the same figures as matching by hand.</summary>
public sealed class DatasetEvaluationTests(YoloxNanoFixture fixture) : IClassFixture<YoloxNanoFixture>
{
    [Fact]
    public void Scores_the_first_images_and_reports_progress()
    {
        var source = CocoJsonGroundTruth.Open(SharedData.Coco128Images, GroundTruthReaderTests.Coco128Annotations);
        var progress = new List<EvaluationProgress>();

        var result = DatasetEvaluation.Run(fixture.Detector, source, limit: 8, progress: progress.Add, progressInterval: 3);

        Assert.Equal([3, 6, 8], progress.Select(report => report.Done));
        Assert.All(progress, report => Assert.Equal(8, report.Total));
        Assert.Equal(8, result.Images);

        // The same images matched by hand through the evaluator give the same figures.
        var evaluator = new CocoDetectionEvaluator();
        foreach (var image in source.Images.Take(8))
        {
            using var frame = ImageFile.Read(image.Path);
            evaluator.AddImage([.. source.Read(image)], fixture.Detector.Detect(frame));
        }

        var expected = evaluator.Evaluate();
        Assert.Equal(expected.MeanAp, result.MeanAp);
        Assert.Equal(expected.Detections, result.Detections);
        Assert.InRange(result.MeanAp, 0.05, 1.0);
    }

    [Fact]
    public void Rejects_a_limit_below_one()
    {
        var source = YoloLabelGroundTruth.Open(SharedData.Coco128Images);
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetEvaluation.Run(fixture.Detector, source, limit: 0));
    }
}
