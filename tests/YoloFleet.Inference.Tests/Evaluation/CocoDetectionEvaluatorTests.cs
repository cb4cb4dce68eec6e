using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Inference.Tests.Evaluation;

/// <summary>
/// Hand-made cases whose AP can be worked out on paper, each aimed at one rule of pycocotools' COCOeval. Values are
/// compared to 1e-12: the evaluator is exact up to the order of floating-point sums.
/// </summary>
public sealed class CocoDetectionEvaluatorTests
{
    private const int Precision = 12;

    [Fact]
    public void Perfect_predictions_score_exactly_one()
    {
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 10, 10, 50, 80), Truth(3, 100, 20, 180, 60)], [Det(0, 0.9f, 10, 10, 50, 80), Det(3, 0.8f, 100, 20, 180, 60)]);
        evaluator.AddImage([Truth(0, 0, 0, 20, 20)], [Det(0, 0.4f, 0, 0, 20, 20)]);

        var result = evaluator.Evaluate();

        Assert.Equal(1.0, result.MeanAp);
        Assert.Equal(1.0, result.MeanAp50);
        Assert.Equal([0, 3], result.PerClass.Select(entry => entry.ClassId));
        Assert.All(result.PerClass, entry => Assert.Equal((1.0, 1.0), (entry.Ap, entry.Ap50)));
        Assert.Equal((2, 3), (result.Images, result.Detections));
        Assert.Equal([2, 1], result.PerClass.Select(entry => entry.GroundTruth));
    }

    // A 100x100 box and the same box moved right by `shift`: IoU = (100 - shift) / (100 + shift). It is a true positive
    // at the thresholds 0.50, 0.55, ... that this IoU reaches, so mAP is the share of those thresholds, and mAP50 is 1.
    [Theory]
    [InlineData(0, 1.0)] // IoU 1
    [InlineData(10, 0.7)] // IoU 0.818: thresholds 0.50..0.80
    [InlineData(24, 0.3)] // IoU 0.613: thresholds 0.50, 0.55, 0.60
    [InlineData(30, 0.1)] // IoU 0.538: threshold 0.50 only
    public void A_shifted_box_counts_only_at_the_thresholds_its_iou_reaches(int shift, double expectedMap)
    {
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.9f, shift, 0, 100 + shift, 100)]);

        var result = evaluator.Evaluate();

        Assert.Equal(expectedMap, result.MeanAp, Precision);
        Assert.Equal(1.0, result.MeanAp50);
    }

    [Fact]
    public void A_box_below_iou_half_is_a_false_positive_everywhere()
    {
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.9f, 40, 0, 140, 100)]); // IoU 60/140 = 0.43

        var result = evaluator.Evaluate();

        Assert.Equal(0.0, result.MeanAp);
        Assert.Equal(0.0, result.MeanAp50);
    }

    [Fact]
    public void Images_without_objects_or_detections_change_nothing()
    {
        var plain = new CocoDetectionEvaluator();
        var padded = new CocoDetectionEvaluator();
        padded.AddImage([], []);
        foreach (var evaluator in new[] { plain, padded })
        {
            evaluator.AddImage([Truth(0, 0, 0, 100, 100), Truth(0, 200, 0, 300, 100)], [Det(0, 0.9f, 10, 0, 110, 100), Det(0, 0.7f, 500, 0, 600, 100)]);
        }

        padded.AddImage([], []);
        padded.AddImage([], []);

        var (expected, actual) = (plain.Evaluate(), padded.Evaluate());

        Assert.Equal(expected.MeanAp, actual.MeanAp);
        Assert.Equal(expected.MeanAp50, actual.MeanAp50);
        Assert.Equal((1, 4), (expected.Images, actual.Images));
        // Not trivially 1 or 0, so that an empty image that did count would show: one object of two found.
        Assert.Equal(51.0 / 101, expected.MeanAp50, Precision);
    }

    [Fact]
    public void A_detection_on_an_image_without_objects_is_a_false_positive()
    {
        // The stray detection outscores the true one: ranks FP, TP; precision 1/2 at recall 1, so AP50 = 0.5.
        var above = new CocoDetectionEvaluator();
        above.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.9f, 0, 0, 100, 100)]);
        above.AddImage([], [Det(0, 0.95f, 0, 0, 100, 100)]);

        // Ranked below the true one it comes after full recall and costs nothing.
        var below = new CocoDetectionEvaluator();
        below.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.9f, 0, 0, 100, 100)]);
        below.AddImage([], [Det(0, 0.5f, 0, 0, 100, 100)]);

        Assert.Equal(0.5, above.Evaluate().MeanAp50, Precision);
        Assert.Equal(0.5, above.Evaluate().MeanAp, Precision);
        Assert.Equal(1.0, below.Evaluate().MeanAp50);
    }

    [Fact]
    public void A_second_detection_of_the_same_object_is_a_false_positive()
    {
        // Two objects; ranks: TP (object A), duplicate of A, TP (object B).
        // recall 0.5, 0.5, 1; precision 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3.
        // Recall thresholds 0.00..0.50 (51 of them) read 1, 0.51..1.00 (50) read 2/3.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 100, 100), Truth(0, 200, 0, 300, 100)],
            [Det(0, 0.9f, 0, 0, 100, 100), Det(0, 0.8f, 2, 2, 102, 102), Det(0, 0.7f, 200, 0, 300, 100)]);

        var result = evaluator.Evaluate();

        Assert.Equal((51 + 50 * (2.0 / 3)) / 101, result.MeanAp50, Precision);
        Assert.Equal(3, result.PerClass[0].Detections);
    }

    [Fact]
    public void The_best_iou_unmatched_object_is_claimed()
    {
        // The first detection overlaps B better than A, so it takes B and the second detection still finds A.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 100, 100), Truth(0, 60, 0, 160, 100)],
            [Det(0, 0.9f, 55, 0, 155, 100), Det(0, 0.8f, 0, 0, 100, 100)]);

        Assert.Equal(1.0, evaluator.Evaluate().MeanAp50);
    }

    [Fact]
    public void Detections_on_a_crowd_region_are_ignored_however_many()
    {
        // Two people; a crowd region elsewhere. Three detections lie inside the crowd, two of them outscoring everything.
        // Were they false positives, AP50 would be well below 1; ignored, they leave a perfect ranking.
        GroundTruthBox[] truth = [Truth(0, 0, 0, 50, 100), Truth(0, 60, 0, 110, 100), Truth(0, 200, 0, 600, 300, crowd: true)];
        Detection[] detections =
        [
            Det(0, 0.99f, 210, 10, 260, 110), Det(0, 0.98f, 300, 50, 350, 150),
            Det(0, 0.9f, 0, 0, 50, 100), Det(0, 0.8f, 60, 0, 110, 100), Det(0, 0.7f, 400, 100, 450, 200),
        ];

        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(truth, detections);
        var result = evaluator.Evaluate();

        Assert.Equal(1.0, result.MeanAp);
        var person = Assert.Single(result.PerClass);
        Assert.Equal((2, 1, 5), (person.GroundTruth, person.CrowdRegions, person.Detections));

        // Control: the same region as a regular object turns the stray detections into false positives.
        var regular = new CocoDetectionEvaluator();
        regular.AddImage([.. truth[..2], truth[2] with { IsCrowd = false }], detections);
        Assert.True(regular.Evaluate().MeanAp50 < 0.8, $"AP50 {regular.Evaluate().MeanAp50}");
    }

    [Fact]
    public void Crowd_iou_is_the_intersection_over_the_detection_area()
    {
        var crowd = Truth(0, 0, 0, 1000, 1000, crowd: true);
        var inside = Det(0, 0.5f, 100, 100, 150, 150);
        var halfOut = Det(0, 0.5f, 950, 0, 1050, 100);

        Assert.Equal(1.0, CocoDetectionEvaluator.IntersectionOverUnion(inside, crowd));
        Assert.Equal(0.5, CocoDetectionEvaluator.IntersectionOverUnion(halfOut, crowd));
        Assert.Equal(2500.0 / 1_000_000, CocoDetectionEvaluator.IntersectionOverUnion(inside, crowd with { IsCrowd = false }), Precision);
    }

    [Fact]
    public void A_detection_that_matches_a_regular_object_keeps_it_over_a_better_crowd_overlap()
    {
        // The detection has IoU 0.625 with the person and 1.0 (over its own area) with the crowd around it. pycocotools
        // stops looking once a regular object is matched, so it is a true positive at IoU 0.50..0.60, not ignored (an
        // evaluator that took the best overlap would ignore it and miss the person: AP50 0). From 0.65 up the person is
        // out of reach, the crowd takes the detection, and nothing is found.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage(
            [Truth(0, 0, 0, 100, 100), Truth(0, 0, 0, 400, 400, crowd: true)],
            [Det(0, 0.9f, 0, 0, 100, 160)]);

        var result = evaluator.Evaluate();

        Assert.Equal(1.0, result.MeanAp50);
        Assert.Equal(0.3, result.MeanAp, Precision);
    }

    [Fact]
    public void A_class_without_objects_is_left_out_of_the_mean()
    {
        var evaluator = new CocoDetectionEvaluator();
        // Class 0 perfect; class 5 has only false positives and class 7 only a crowd region: neither has objects to find.
        evaluator.AddImage(
            [Truth(0, 0, 0, 100, 100), Truth(7, 300, 300, 400, 400, crowd: true)],
            [Det(0, 0.9f, 0, 0, 100, 100), Det(5, 0.95f, 200, 200, 250, 250), Det(7, 0.8f, 310, 310, 350, 350)]);

        var result = evaluator.Evaluate();

        Assert.Equal(1.0, result.MeanAp);
        Assert.Equal(0, Assert.Single(result.PerClass).ClassId);
    }

    [Fact]
    public void No_objects_at_all_gives_minus_one_as_pycocotools()
    {
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([], [Det(0, 0.9f, 0, 0, 10, 10)]);

        var result = evaluator.Evaluate();

        Assert.Equal((-1.0, -1.0), (result.MeanAp, result.MeanAp50));
        Assert.Empty(result.PerClass);
    }

    [Fact]
    public void Precision_is_interpolated_at_101_recall_points_on_a_hand_computed_curve()
    {
        // Four objects in four images; detections ranked TP, FP, TP, FP, FP, TP (scores 0.9 .. 0.4).
        //   recall    0.25 0.25 0.50 0.50 0.50 0.75
        //   precision 1    1/2  2/3  1/2  2/5  1/2   -> envelope 1, 2/3, 2/3, 1/2, 1/2, 1/2
        // Recall thresholds 0.00..0.25 (26) read 1; 0.26..0.50 (25) read 2/3; 0.51..0.75 (25) read 1/2; 0.76..1 (25) read 0.
        var evaluator = new CocoDetectionEvaluator();
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.9f, 0, 0, 100, 100), Det(0, 0.8f, 500, 500, 600, 600)]);
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.7f, 0, 0, 100, 100), Det(0, 0.6f, 500, 500, 600, 600)]);
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.5f, 500, 500, 600, 600), Det(0, 0.4f, 0, 0, 100, 100)]);
        evaluator.AddImage([Truth(0, 0, 0, 100, 100)], []);

        var result = evaluator.Evaluate();

        Assert.Equal((26 + 25 * (2.0 / 3) + 25 * 0.5) / 101, result.MeanAp50, Precision);
        // Every true positive is exact, so every IoU threshold gives the same AP.
        Assert.Equal(result.MeanAp50, result.MeanAp, Precision);
    }

    [Fact]
    public void Recall_thresholds_are_numpys_doubles()
    {
        // 7 of 20 found at full precision: recall 0.35 is just short of numpy's 35th threshold, 0.35000000000000003,
        // so only thresholds 0.00..0.34 (35 of them) read 1. With exact hundredths it would be 36.
        var evaluator = new CocoDetectionEvaluator();
        GroundTruthBox[] truth = [.. Enumerable.Range(0, 20).Select(i => Truth(0, i * 200, 0, i * 200 + 100, 100))];
        Detection[] detections = [.. Enumerable.Range(0, 7).Select(i => Det(0, 0.9f - i * 0.01f, i * 200, 0, i * 200 + 100, 100))];
        evaluator.AddImage(truth, detections);

        Assert.Equal(35.0 / 101, evaluator.Evaluate().MeanAp50, Precision);
        Assert.Equal(0.35000000000000003, CocoDetectionEvaluator.RecallThresholds[35]);
        Assert.Equal(0.8999999999999999, CocoDetectionEvaluator.IouThresholds[8]);
    }

    [Fact]
    public void Only_the_best_100_detections_of_an_image_count()
    {
        // 100 confident false positives of another class push the one true detection to rank 101 in its image. The cut
        // is per image (as the reference protocol's max 100 per image), so it drops the true detection.
        Detection[] detections =
        [
            .. Enumerable.Range(0, 100).Select(i => Det(1, 0.9f, i * 10, 500, i * 10 + 5, 505)),
            Det(0, 0.5f, 0, 0, 100, 100),
        ];

        var capped = new CocoDetectionEvaluator();
        capped.AddImage([Truth(0, 0, 0, 100, 100)], detections);
        var roomier = new CocoDetectionEvaluator(maxDetectionsPerImage: 101);
        roomier.AddImage([Truth(0, 0, 0, 100, 100)], detections);

        Assert.Equal(0.0, capped.Evaluate().MeanAp);
        Assert.Equal(100, capped.DetectionCount);
        Assert.Equal(1.0, roomier.Evaluate().MeanAp);
        Assert.Equal(101, roomier.DetectionCount);
    }

    [Fact]
    public void Ties_in_score_keep_the_order_the_detections_came_in()
    {
        // Two equal scores, a false positive listed first: ranked FP, TP (precision 1/2 at full recall), as numpy's
        // stable mergesort ranks them. Listed the other way round the same detections score 1.
        var falseFirst = new CocoDetectionEvaluator();
        falseFirst.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.5f, 500, 500, 600, 600), Det(0, 0.5f, 0, 0, 100, 100)]);
        var trueFirst = new CocoDetectionEvaluator();
        trueFirst.AddImage([Truth(0, 0, 0, 100, 100)], [Det(0, 0.5f, 0, 0, 100, 100), Det(0, 0.5f, 500, 500, 600, 600)]);

        Assert.Equal(0.5, falseFirst.Evaluate().MeanAp50, Precision);
        Assert.Equal(1.0, trueFirst.Evaluate().MeanAp50);
    }

    [Fact]
    public void Thresholds_are_cocos()
    {
        Assert.Equal(10, CocoDetectionEvaluator.IouThresholds.Count);
        Assert.Equal((0.5, 0.95), (CocoDetectionEvaluator.IouThresholds[0], CocoDetectionEvaluator.IouThresholds[^1]));
        Assert.Equal(101, CocoDetectionEvaluator.RecallThresholds.Count);
        Assert.Equal((0.0, 1.0), (CocoDetectionEvaluator.RecallThresholds[0], CocoDetectionEvaluator.RecallThresholds[^1]));
    }

    private static GroundTruthBox Truth(int classId, double x1, double y1, double x2, double y2, bool crowd = false) =>
        new(classId, x1, y1, x2, y2, crowd);

    private static Detection Det(int classId, float score, float x1, float y1, float x2, float y2) => new(classId, score, x1, y1, x2, y2);
}
