namespace YoloFleet.Inference;

/// <summary>Greedy non-maximum suppression over boxes already sorted by score, best first.</summary>
internal static class NonMaxSuppression
{
    /// <summary>
    /// Sorts by score descending. Ties are broken by class and position so that equal inputs always give equal outputs.
    /// A cached static delegate: List.Sort(Comparison) does not allocate, whereas Sort(IComparer) wraps a new delegate.
    /// </summary>
    public static readonly Comparison<Detection> ByScoreDescending = static (a, b) =>
    {
        var order = b.Score.CompareTo(a.Score);
        if (order != 0)
        {
            return order;
        }

        order = a.ClassId.CompareTo(b.ClassId);
        if (order != 0)
        {
            return order;
        }

        order = a.X1.CompareTo(b.X1);
        return order != 0 ? order : a.Y1.CompareTo(b.Y1);
    };

    /// <summary>
    /// Appends to <paramref name="kept"/> each box of <paramref name="sortedCandidates"/> whose IoU with every box kept
    /// before it (of the same class, unless <paramref name="classAgnostic"/>) is at most <paramref name="iouThreshold"/>,
    /// stopping at <paramref name="maxDetections"/>. Comparing only against kept boxes needs no scratch memory and
    /// costs candidates x kept, which stays small because candidates are filtered by score first.
    /// </summary>
    public static void Apply(ReadOnlySpan<Detection> sortedCandidates, float iouThreshold, bool classAgnostic, int maxDetections, List<Detection> kept)
    {
        var firstKept = kept.Count;
        foreach (var candidate in sortedCandidates)
        {
            if (kept.Count - firstKept >= maxDetections)
            {
                return;
            }

            var suppressed = false;
            for (var i = firstKept; i < kept.Count; i++)
            {
                var other = kept[i];
                if ((classAgnostic || other.ClassId == candidate.ClassId) && IntersectionOverUnion(candidate, other) > iouThreshold)
                {
                    suppressed = true;
                    break;
                }
            }

            if (!suppressed)
            {
                kept.Add(candidate);
            }
        }
    }

    public static float IntersectionOverUnion(in Detection a, in Detection b)
    {
        var intersectionWidth = MathF.Min(a.X2, b.X2) - MathF.Max(a.X1, b.X1);
        var intersectionHeight = MathF.Min(a.Y2, b.Y2) - MathF.Max(a.Y1, b.Y1);
        if (intersectionWidth <= 0f || intersectionHeight <= 0f)
        {
            return 0f;
        }

        var intersection = intersectionWidth * intersectionHeight;
        var union = a.Area + b.Area - intersection;
        return union > 0f ? intersection / union : 0f;
    }
}
