namespace YoloFleet.Cloud.Rollout.Statistics;

/// <summary>
/// One verified hard frame's agreement between the edge model and the FP32 model: the boxes both found (matched by IoU
/// and class), over all boxes either found, TP / (TP + FP + FN), in [0, 1]; 1 when neither found anything. Bounded and
/// defined for every frame, it moves with both the edge's precision and its recall against FP32.
/// </summary>
public static class AgreementSample
{
    public static double FromCounts(int matched, int onlyEdge, int onlyFp32)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(matched);
        ArgumentOutOfRangeException.ThrowIfNegative(onlyEdge);
        ArgumentOutOfRangeException.ThrowIfNegative(onlyFp32);
        var all = matched + onlyEdge + onlyFp32;
        return all == 0 ? 1 : (double)matched / all;
    }
}
