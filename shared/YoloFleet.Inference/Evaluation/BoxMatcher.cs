namespace YoloFleet.Inference.Evaluation;

/// <summary>How one model's boxes on a frame (the edge's, or an INT8 model's) compare with a reference model's (FP32).</summary>
/// <param name="Pairs">Matched (edge index, reference index, IoU).</param>
public sealed record MatchResult(
    int EdgeBoxes,
    int ReferenceBoxes,
    IReadOnlyList<(int Edge, int Reference, float Iou)> Pairs,
    int[] MissedClasses,
    float Precision,
    float Recall,
    float MeanIou,
    int[] CalibrationCount,
    float[] CalibrationEdgeSum,
    float[] CalibrationReferenceSum)
{
    public int Matched => Pairs.Count;
}

/// <summary>
/// Matches edge boxes to reference boxes: same class, IoU at least <see cref="MinIou"/>, greedy by score (the
/// reference box with the highest score picks first, the edge box with the highest IoU among those left), each box
/// used once; the COCO evaluator's rule, with the FP32 model standing in for ground truth. The cloud's FP32 verifier
/// judges the edge's boxes with it, and the registry's quantize job an INT8 model's against its FP32 parent's.
/// </summary>
public static class BoxMatcher
{
    public const float MinIou = 0.5f;

    public static MatchResult Match(IReadOnlyList<Detection> edge, IReadOnlyList<Detection> reference, float minIou = MinIou)
    {
        var referenceOrder = Enumerable.Range(0, reference.Count).OrderByDescending(i => reference[i].Score).ThenBy(i => i).ToArray();
        var edgeTaken = new bool[edge.Count];
        var pairs = new List<(int, int, float)>();
        var matchedReference = new bool[reference.Count];
        foreach (var r in referenceOrder)
        {
            var best = -1;
            var bestIou = minIou;
            for (var e = 0; e < edge.Count; e++)
            {
                if (edgeTaken[e] || edge[e].ClassId != reference[r].ClassId)
                {
                    continue;
                }

                var iou = Iou(edge[e], reference[r]);

                // Ties go to the higher-scoring edge box, then the earlier one.
                if (iou > bestIou || (iou == bestIou && iou >= minIou && (best < 0 || edge[e].Score > edge[best].Score)))
                {
                    best = e;
                    bestIou = iou;
                }
            }

            if (best >= 0)
            {
                edgeTaken[best] = true;
                matchedReference[r] = true;
                pairs.Add((best, r, bestIou));
            }
        }

        var count = new int[ScoreCalibration.Bins];
        var edgeSum = new float[ScoreCalibration.Bins];
        var referenceSum = new float[ScoreCalibration.Bins];
        var iouSum = 0f;
        foreach (var (e, r, iou) in pairs)
        {
            var bin = ScoreCalibration.BinOf(edge[e].Score);
            count[bin]++;
            edgeSum[bin] += edge[e].Score;
            referenceSum[bin] += reference[r].Score;
            iouSum += iou;
        }

        var missed = new SortedSet<int>();
        for (var r = 0; r < reference.Count; r++)
        {
            if (!matchedReference[r])
            {
                missed.Add(reference[r].ClassId);
            }
        }

        // A class is missed only if the edge matched none of its reference boxes on this frame.
        foreach (var (_, r, _) in pairs)
        {
            missed.Remove(reference[r].ClassId);
        }

        return new MatchResult(
            edge.Count,
            reference.Count,
            pairs,
            [.. missed],
            edge.Count == 0 ? 1f : (float)pairs.Count / edge.Count,
            reference.Count == 0 ? 1f : (float)pairs.Count / reference.Count,
            pairs.Count == 0 ? 0f : iouSum / pairs.Count,
            count,
            edgeSum,
            referenceSum);
    }

    public static float Iou(in Detection a, in Detection b)
    {
        var w = MathF.Min(a.X2, b.X2) - MathF.Max(a.X1, b.X1);
        var h = MathF.Min(a.Y2, b.Y2) - MathF.Max(a.Y1, b.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0f;
        }

        var intersection = w * h;
        var union = ((a.X2 - a.X1) * (a.Y2 - a.Y1)) + ((b.X2 - b.X1) * (b.Y2 - b.Y1)) - intersection;
        return union <= 0 ? 0f : intersection / union;
    }
}

/// <summary>The score bins used for calibration: edge score in [0,1] in ten bins of 0.1.</summary>
public static class ScoreCalibration
{
    public const int Bins = 10;

    public static int BinOf(float score) => Math.Clamp((int)(score * Bins), 0, Bins - 1);
}
