namespace YoloFleet.Inference.Evaluation;

/// <summary>COCO-style scores of a detector over a set of images.</summary>
/// <param name="MeanAp">mAP@[0.50:0.95]: the mean of <see cref="ClassAveragePrecision.Ap"/> over <see cref="PerClass"/>; -1 when no class has ground truth (as pycocotools).</param>
/// <param name="MeanAp50">mAP@0.50, likewise; -1 when no class has ground truth.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Detections">Detections evaluated, after the per-image cut.</param>
/// <param name="PerClass">Every class with at least one regular (non-crowd) ground-truth object, by class id.</param>
public sealed record EvaluationResult(double MeanAp, double MeanAp50, int Images, int Detections, IReadOnlyList<ClassAveragePrecision> PerClass)
{
    /// <summary>mAP@[0.50:0.95] for small objects (area up to 32² pixels), as pycocotools' APs; -1 when there are none.</summary>
    public double MeanApSmall { get; init; } = -1;

    /// <summary>mAP@[0.50:0.95] for medium objects (area 32² to 96²), as pycocotools' APm; -1 when there are none.</summary>
    public double MeanApMedium { get; init; } = -1;

    /// <summary>mAP@[0.50:0.95] for large objects (area from 96²), as pycocotools' APl; -1 when there are none.</summary>
    public double MeanApLarge { get; init; } = -1;

    /// <summary>Regular (non-crowd) ground-truth objects whose area makes them small.</summary>
    public int SmallObjects { get; init; }

    /// <summary>Regular ground-truth objects whose area makes them medium.</summary>
    public int MediumObjects { get; init; }

    /// <summary>Regular ground-truth objects whose area makes them large.</summary>
    public int LargeObjects { get; init; }
}

/// <summary>One class's scores.</summary>
/// <param name="Ap">AP averaged over the 10 IoU thresholds 0.50:0.05:0.95.</param>
/// <param name="Ap50">AP at IoU 0.50.</param>
/// <param name="GroundTruth">Regular (non-crowd) objects of this class: the denominator of recall.</param>
/// <param name="CrowdRegions">Crowd regions of this class; detections on them are ignored.</param>
/// <param name="Detections">Detections of this class evaluated.</param>
public sealed record ClassAveragePrecision(int ClassId, double Ap, double Ap50, int GroundTruth, int CrowdRegions, int Detections);

/// <summary>pycocotools' area ranges (areaRng), in its order: every object, then small, medium and large.</summary>
public enum ObjectSize
{
    /// <summary>Every object: area 0 to 1e5².</summary>
    All,

    /// <summary>Area 0 to 32² pixels.</summary>
    Small,

    /// <summary>Area 32² to 96² pixels.</summary>
    Medium,

    /// <summary>Area 96² to 1e5² pixels.</summary>
    Large,
}
