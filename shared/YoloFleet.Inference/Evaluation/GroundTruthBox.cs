namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// One labelled object in image pixels; (X1, Y1) is the top-left corner. Doubles, because COCO's reference evaluator
/// does its box maths in double and the labels are given with more precision than a float keeps.
/// </summary>
/// <param name="ClassId">The model's contiguous class id (0..C-1), not a COCO category id.</param>
/// <param name="IsCrowd">
/// A COCO "iscrowd" region: detections on it are ignored (neither true nor false positives), and its IoU with a
/// detection is the intersection over the detection's area.
/// </param>
public readonly record struct GroundTruthBox(int ClassId, double X1, double Y1, double X2, double Y2, bool IsCrowd = false)
{
    private readonly double? _area;

    public double Width => X2 - X1;

    public double Height => Y2 - Y1;

    /// <summary>
    /// The area that decides the object's size class (small, medium, large) in <see cref="CocoDetectionEvaluator"/>.
    /// pycocotools reads it from the annotation's "area", which for COCO's own labels is the segmentation mask's area,
    /// not the box's; YOLO labels have no mask, so it defaults to the box's width times height.
    /// </summary>
    public double Area
    {
        get => _area ?? Width * Height;
        init => _area = value;
    }
}
