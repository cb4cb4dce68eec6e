using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Inference.Tests.Evaluation;

/// <summary>
/// mAP by object size (pycocotools' APs, APm, APl) on cases worked out by hand. Each follows one rule of
/// COCOeval.evaluateImg with an area range: objects outside the range are ignored and sorted last, a detection matched to
/// an ignored object is ignored, an unmatched detection outside the range is ignored, and both ends of a range count.
/// </summary>
[Trait("Category", "Scene")]
public sealed class CocoSizeRangeTests
{
    private const int Precision = 12;

    [Fact]
    public void Each_size_scores_only_its_own_objects()
    {
        // Small (20x20 = 400), medium (50x50 = 2500) and large (120x120 = 14400) objects; the medium one is missed.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 20, 20), Truth(0, 100, 0, 150, 50), Truth(0, 300, 0, 420, 120)],
            [Det(0, 0.9f, 0, 0, 20, 20), Det(0, 0.8f, 300, 0, 420, 120)]);

        var result = evaluator.Evaluate();

        // Small: its one object found; the large detection matched a large (ignored) object, so it counts neither way.
        Assert.Equal(1.0, result.MeanApSmall);
        // Medium: its object missed; both detections matched ignored objects.
        Assert.Equal(0.0, result.MeanApMedium);
        Assert.Equal(1.0, result.MeanApLarge);
        // All: two of three found at precision 1, so recall thresholds 0.00..0.66 (67 of 101) read 1.
        Assert.Equal(67.0 / 101, result.MeanAp, Precision);
        Assert.Equal((1, 1, 1), (result.SmallObjects, result.MediumObjects, result.LargeObjects));
    }

    [Theory]
    [InlineData(32, 1.0, 1.0, -1.0)] // 32² = 1024: small and medium
    [InlineData(96, -1.0, 1.0, 1.0)] // 96² = 9216: medium and large
    [InlineData(31, 1.0, -1.0, -1.0)]
    [InlineData(97, -1.0, -1.0, 1.0)]
    public void An_area_on_a_range_boundary_belongs_to_both_sizes(int side, double small, double medium, double large)
    {
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 10, 10, 10 + side, 10 + side)], [Det(0, 0.9f, 10, 10, 10 + side, 10 + side)]);

        var result = evaluator.Evaluate();

        Assert.Equal((small, medium, large), (result.MeanApSmall, result.MeanApMedium, result.MeanApLarge));
        Assert.True(CocoDetectionEvaluator.IsInRange(side * side, ObjectSize.All));
        Assert.Equal(small >= 0, CocoDetectionEvaluator.IsInRange(side * side, ObjectSize.Small));
    }

    [Fact]
    public void An_unmatched_detection_is_a_false_positive_only_in_its_own_size()
    {
        // A small object found at score 0.5, and a confident large false positive far away (100x100).
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 20, 20)], [Det(0, 0.5f, 0, 0, 20, 20), Det(0, 0.9f, 500, 500, 600, 600)]);
        // A large object found at score 0.5, and a confident small false positive far away (10x10).
        evaluator.AddImage([Truth(1, 0, 0, 200, 200)], [Det(1, 0.5f, 0, 0, 200, 200), Det(1, 0.95f, 500, 500, 510, 510)]);

        var result = evaluator.Evaluate();

        // Small: class 0 only (class 1 has no small object); its large false positive lies outside the range.
        Assert.Equal(1.0, result.MeanApSmall);
        Assert.Equal(1.0, result.MeanApLarge);
        Assert.Equal(-1.0, result.MeanApMedium);
        // All: each class ranks FP then TP, precision 1/2 at its full recall.
        Assert.Equal(0.5, result.MeanAp, Precision);
    }

    [Fact]
    public void The_annotation_area_decides_the_size_not_the_box()
    {
        // A 40x40 box (1600: medium) whose mask covers 900 pixels (small), as COCO's annotations give it.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 40, 40) with { Area = 900 }], [Det(0, 0.9f, 0, 0, 40, 40)]);

        var result = evaluator.Evaluate();

        Assert.Equal((1.0, -1.0), (result.MeanApSmall, result.MeanApMedium));
        Assert.Equal((1, 0), (result.SmallObjects, result.MediumObjects));
        Assert.Equal(1600, Truth(0, 0, 0, 40, 40).Area);
    }

    [Fact]
    public void Within_a_size_a_detection_keeps_its_match_to_an_object_of_that_size()
    {
        // A small object A (30x30 = 900) and a medium object B (40x40 = 1600) of one class, one detection D (36x36 = 1296).
        // IoU(D, A) = 900 / 1296 = 0.694; IoU(D, B) = 1296 / 1600 = 0.81.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 30, 30), Truth(0, 0, 0, 40, 40)], [Det(0, 0.9f, 0, 0, 36, 36)]);

        var result = evaluator.Evaluate();

        // All: D takes the better overlap, B, at the 7 thresholds 0.50..0.80 (one of two objects found: AP 51/101
        // each), and is a false positive at 0.85..0.95.
        Assert.Equal(7 * (51.0 / 101) / 10, result.MeanAp, Precision);
        // Small: A comes first and B (ignored) last; once D matched A, pycocotools stops before B. A true positive at
        // 0.50..0.65 (4 thresholds); at 0.70..0.80 D falls to the ignored B and A is missed; above, D is unmatched and,
        // 1296 pixels, not small, so ignored.
        Assert.Equal(0.4, result.MeanApSmall, Precision);
        // Medium: D matches B at 0.50..0.80; above, unmatched and medium-sized, a false positive.
        Assert.Equal(0.7, result.MeanApMedium, Precision);
    }

    [Fact]
    public void A_crowd_region_still_absorbs_detections_in_every_size()
    {
        // A large crowd region with a small detection inside it, and a small object found.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 20, 20), Truth(0, 100, 100, 400, 400, crowd: true)],
            [Det(0, 0.95f, 150, 150, 165, 165), Det(0, 0.9f, 0, 0, 20, 20)]);

        var result = evaluator.Evaluate();

        Assert.Equal(1.0, result.MeanAp);
        Assert.Equal(1.0, result.MeanApSmall);
        Assert.Equal((1, 0, 0), (result.SmallObjects, result.MediumObjects, result.LargeObjects));
        Assert.Equal((-1.0, -1.0), (result.MeanApMedium, result.MeanApLarge));
    }

    [Fact]
    public void Sizes_average_over_the_classes_that_have_objects_of_that_size()
    {
        // Class 0: a small object found (APs 1). Class 1: a small object missed (APs 0) and a large one found.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 20, 20), Truth(1, 100, 0, 120, 20), Truth(1, 200, 200, 400, 400)],
            [Det(0, 0.9f, 0, 0, 20, 20), Det(1, 0.9f, 200, 200, 400, 400)]);

        var result = evaluator.Evaluate();

        Assert.Equal(0.5, result.MeanApSmall, Precision);
        Assert.Equal(1.0, result.MeanApLarge);
        Assert.Equal((2, 0, 1), (result.SmallObjects, result.MediumObjects, result.LargeObjects));
    }

    private static GroundTruthBox Truth(int classId, double x1, double y1, double x2, double y2, bool crowd = false) =>
        new(classId, x1, y1, x2, y2, crowd);

    private static Detection Det(int classId, float score, float x1, float y1, float x2, float y2) => new(classId, score, x1, y1, x2, y2);
}
