namespace YoloFleet.Inference.Tests;

public sealed class NonMaxSuppressionTests
{
    private static List<Detection> Run(float iouThreshold, bool classAgnostic, int maxDetections, params Detection[] candidates)
    {
        var sorted = candidates.ToList();
        sorted.Sort(NonMaxSuppression.ByScoreDescending);
        var kept = new List<Detection>();
        NonMaxSuppression.Apply(sorted.ToArray(), iouThreshold, classAgnostic, maxDetections, kept);
        return kept;
    }

    [Fact]
    public void Overlapping_boxes_of_one_class_keep_only_the_best()
    {
        var best = new Detection(0, 0.9f, 0, 0, 10, 10);
        var shifted = new Detection(0, 0.8f, 1, 1, 11, 11);   // IoU 81/119 = 0.68
        var apart = new Detection(0, 0.7f, 20, 20, 30, 30);

        var kept = Run(0.45f, classAgnostic: false, 300, shifted, apart, best);

        Assert.Equal([best, apart], kept);
    }

    [Fact]
    public void Different_classes_survive_unless_nms_is_class_agnostic()
    {
        var person = new Detection(0, 0.9f, 0, 0, 10, 10);
        var dog = new Detection(16, 0.8f, 1, 1, 11, 11);

        Assert.Equal([person, dog], Run(0.45f, classAgnostic: false, 300, person, dog));
        Assert.Equal([person], Run(0.45f, classAgnostic: true, 300, person, dog));
    }

    [Fact]
    public void Suppresses_only_above_the_iou_threshold()
    {
        var big = new Detection(0, 0.9f, 0, 0, 10, 10);
        var inside = new Detection(0, 0.8f, 0, 0, 10, 4);     // IoU 40/100 = 0.4

        Assert.Equal(0.4f, NonMaxSuppression.IntersectionOverUnion(big, inside), 5);
        Assert.Equal([big, inside], Run(0.45f, classAgnostic: false, 300, big, inside));
        Assert.Equal([big], Run(0.35f, classAgnostic: false, 300, big, inside));
    }

    [Fact]
    public void Stops_at_max_detections_keeping_the_best()
    {
        var boxes = Enumerable.Range(0, 10).Select(i => new Detection(0, 0.1f + i * 0.05f, i * 20, 0, i * 20 + 10, 10)).ToArray();

        var kept = Run(0.45f, classAgnostic: false, 3, boxes);

        Assert.Equal(boxes.OrderByDescending(box => box.Score).Take(3), kept);
    }

    [Fact]
    public void Iou_of_disjoint_identical_and_half_overlapping_boxes()
    {
        var box = new Detection(0, 1f, 0, 0, 10, 10);

        Assert.Equal(0f, NonMaxSuppression.IntersectionOverUnion(box, new Detection(0, 1f, 10, 0, 20, 10)));
        Assert.Equal(1f, NonMaxSuppression.IntersectionOverUnion(box, box));
        Assert.Equal(1f / 3f, NonMaxSuppression.IntersectionOverUnion(box, new Detection(0, 1f, 5, 0, 15, 10)), 5);
    }

    [Fact]
    public void Sort_order_is_score_descending_then_deterministic()
    {
        var a = new Detection(2, 0.5f, 5, 0, 6, 1);
        var b = new Detection(1, 0.5f, 9, 0, 10, 1);
        var c = new Detection(1, 0.5f, 3, 0, 4, 1);
        var top = new Detection(7, 0.9f, 0, 0, 1, 1);
        var list = new List<Detection> { a, b, c, top };

        list.Sort(NonMaxSuppression.ByScoreDescending);

        Assert.Equal([top, c, b, a], list);
    }
}
