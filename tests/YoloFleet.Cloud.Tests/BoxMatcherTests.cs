using YoloFleet.Inference;
using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Cloud.Tests;

/// <summary>The verifier's matching rule on crafted edge/FP32 pairs: IoU >= 0.5, same class, greedy by score, each box once.</summary>
public sealed class BoxMatcherTests
{
    private static Detection Box(int cls, float score, float x1, float y1, float w = 100, float h = 100) => new(cls, score, x1, y1, x1 + w, y1 + h);

    [Fact]
    public void Identical_boxes_match_perfectly()
    {
        Detection[] reference = [Box(0, 0.9f, 10, 10), Box(2, 0.8f, 300, 300)];
        var result = BoxMatcher.Match(reference, reference);

        Assert.Equal(2, result.Matched);
        Assert.Equal(1f, result.Precision);
        Assert.Equal(1f, result.Recall);
        Assert.Equal(1f, result.MeanIou, 5);
        Assert.Empty(result.MissedClasses);
    }

    [Fact]
    public void A_shift_just_above_half_iou_matches_and_just_below_does_not()
    {
        // Two 100x100 boxes shifted by dx overlap (100-dx)*100 over a union of (100+dx)*100: IoU = (100-dx)/(100+dx).
        // dx = 33 gives 0.5038 (match); dx = 34 gives 0.4925 (no match).
        var reference = new[] { Box(1, 0.9f, 0, 0) };
        var above = BoxMatcher.Match([Box(1, 0.7f, 33, 0)], reference);
        var below = BoxMatcher.Match([Box(1, 0.7f, 34, 0)], reference);

        Assert.Equal(1, above.Matched);
        Assert.InRange(above.MeanIou, 0.5f, 0.51f);
        Assert.Equal(0, below.Matched);
        Assert.Equal(0f, below.Precision);
        Assert.Equal(0f, below.Recall);
        Assert.Equal([1], below.MissedClasses);
    }

    [Fact]
    public void Exactly_half_iou_matches()
    {
        // 100x100 against a 100x50 box inside it: IoU = 5000 / 10000 = 0.5 exactly.
        var result = BoxMatcher.Match([new Detection(0, 0.6f, 0, 0, 100, 50)], [Box(0, 0.9f, 0, 0)]);
        Assert.Equal(1, result.Matched);
    }

    [Fact]
    public void The_same_box_with_a_different_class_does_not_match()
    {
        var result = BoxMatcher.Match([Box(3, 0.9f, 0, 0)], [Box(5, 0.9f, 0, 0)]);

        Assert.Equal(0, result.Matched);
        Assert.Equal(0f, result.Precision);
        Assert.Equal(0f, result.Recall);
        Assert.Equal([5], result.MissedClasses);
    }

    [Fact]
    public void Duplicate_edge_boxes_match_once_and_the_extra_counts_against_precision()
    {
        // The edge reports the same object twice (a failed NMS); only one can pair with the single reference box.
        var result = BoxMatcher.Match([Box(0, 0.6f, 0, 0), Box(0, 0.8f, 2, 0)], [Box(0, 0.9f, 0, 0)]);

        Assert.Equal(1, result.Matched);
        Assert.Equal(0.5f, result.Precision);
        Assert.Equal(1f, result.Recall);

        // Equal-or-better IoU goes first; here the exact box (index 0) has IoU 1.
        Assert.Equal(0, result.Pairs[0].Edge);
    }

    [Fact]
    public void Duplicate_reference_boxes_let_the_higher_scoring_one_pick_first()
    {
        // Two reference boxes on one object, one edge box: the 0.9 reference takes it even though the 0.5 one is listed first.
        var result = BoxMatcher.Match([Box(0, 0.7f, 0, 0)], [Box(0, 0.5f, 0, 0), Box(0, 0.9f, 5, 0)]);

        Assert.Equal(1, result.Matched);
        Assert.Equal(1, result.Pairs[0].Reference);
        Assert.Equal(0.5f, result.Recall);

        // The class was matched once, so it is not missed.
        Assert.Empty(result.MissedClasses);
    }

    [Fact]
    public void Empty_sides_give_defined_figures()
    {
        var none = BoxMatcher.Match([], []);
        Assert.Equal((0, 1f, 1f), (none.Matched, none.Precision, none.Recall));

        var edgeOnly = BoxMatcher.Match([Box(0, 0.9f, 0, 0)], []);
        Assert.Equal((0f, 1f), (edgeOnly.Precision, edgeOnly.Recall));

        var referenceOnly = BoxMatcher.Match([], [Box(7, 0.9f, 0, 0), Box(7, 0.8f, 200, 0), Box(2, 0.7f, 400, 0)]);
        Assert.Equal((1f, 0f), (referenceOnly.Precision, referenceOnly.Recall));
        Assert.Equal([2, 7], referenceOnly.MissedClasses);
    }

    [Fact]
    public void Calibration_bins_pairs_by_edge_score()
    {
        // Edge scores 0.35 and 0.31 fall in bin 3; 0.95 in bin 9. The FP32 scores are summed beside them.
        var edge = new[] { Box(0, 0.35f, 0, 0), Box(0, 0.31f, 300, 0), Box(1, 0.95f, 600, 0) };
        var reference = new[] { Box(0, 0.8f, 0, 0), Box(0, 0.6f, 300, 0), Box(1, 0.9f, 600, 0) };
        var result = BoxMatcher.Match(edge, reference);

        Assert.Equal(ScoreCalibration.Bins, result.CalibrationCount.Length);
        Assert.Equal(2, result.CalibrationCount[3]);
        Assert.Equal(0.66f, result.CalibrationEdgeSum[3], 4);
        Assert.Equal(1.4f, result.CalibrationReferenceSum[3], 4);
        Assert.Equal(1, result.CalibrationCount[9]);
        Assert.Equal(3, result.CalibrationCount.Sum());
    }

    [Fact]
    public void Disjoint_boxes_have_zero_iou()
    {
        Assert.Equal(0f, BoxMatcher.Iou(Box(0, 1, 0, 0), Box(0, 1, 100, 0)));
        Assert.Equal(1f, BoxMatcher.Iou(Box(0, 1, 5, 5), Box(0, 1, 5, 5)));
    }
}
