namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// COCO-style box mAP, following pycocotools' COCOeval (iouType "bbox", area range "all") step by step:
/// <list type="bullet">
/// <item>per image, the detections are ranked by score (stable) and only the best <see cref="MaxDetectionsPerImage"/> are kept;</item>
/// <item>per image and class, each detection in score order claims the unmatched ground truth with the highest IoU
/// (at least the IoU threshold), regular objects before crowd regions; a crowd region ("iscrowd") can absorb any number
/// of detections, which are then ignored (neither true nor false positives), and its IoU is the intersection over the
/// detection's area;</item>
/// <item>per class, the detections of all images are ranked by score (stable, images in the order they were added),
/// precision is made monotone from the right and read at the 101 recall thresholds 0:0.01:1, and the 101 values are
/// averaged, for each of the 10 IoU thresholds 0.50:0.05:0.95;</item>
/// <item>mAP is the mean over classes that have at least one regular (non-crowd) ground-truth object; pycocotools marks
/// the others -1 and leaves them out, as this does.</item>
/// </list>
/// Only per-detection match flags are kept between images (a score and two 10-bit masks), never images or boxes, so the
/// memory grows with detections, not with pixels.
/// </summary>
/// <remarks>
/// Two deliberate differences from pycocotools, both far below the third decimal:
/// pycocotools caps detections per image <em>and class</em> at maxDets, whereas the reference protocol (and this class)
/// keeps the best 100 per image, which also bounds every class; and pycocotools adds 2^-52 to the precision denominator
/// to avoid 0/0, which makes a perfect result 1 - 1e-16, where this gives exactly 1.
/// </remarks>
public sealed class CocoDetectionEvaluator
{
    public const int DefaultMaxDetectionsPerImage = 100;

    // np.linspace(.5, 0.95, 10) and np.linspace(.0, 1.00, 101), computed the way numpy does (i * step + start), so that
    // the thresholds are the very same doubles: a recall of 3/10 must compare with the 31st threshold exactly as in numpy.
    private static readonly double[] IouThresholdValues = Linspace(0.5, 0.95, 10);
    private static readonly double[] RecallThresholdValues = Linspace(0.0, 1.0, 101);

    private readonly Dictionary<int, ClassAccumulator> _classes = [];

    // Scratch reused across images.
    private readonly List<RankedDetection> _ranked = [];
    private readonly List<GroundTruthBox> _classGroundTruth = [];
    private readonly List<Detection> _classDetections = [];
    private readonly SortedSet<int> _imageClasses = [];
    private double[] _ious = new double[256];
    private bool[] _groundTruthTaken = new bool[64];
    private ushort[] _matched = new ushort[DefaultMaxDetectionsPerImage];
    private ushort[] _ignored = new ushort[DefaultMaxDetectionsPerImage];

    private long _sequence;

    public CocoDetectionEvaluator(int maxDetectionsPerImage = DefaultMaxDetectionsPerImage)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDetectionsPerImage, 1);
        MaxDetectionsPerImage = maxDetectionsPerImage;
    }

    /// <summary>The 10 IoU thresholds 0.50, 0.55, ..., 0.95.</summary>
    public static IReadOnlyList<double> IouThresholds => IouThresholdValues;

    /// <summary>The 101 recall thresholds 0.00, 0.01, ..., 1.00 at which precision is read.</summary>
    public static IReadOnlyList<double> RecallThresholds => RecallThresholdValues;

    public int MaxDetectionsPerImage { get; }

    /// <summary>Images added so far, including images with neither objects nor detections.</summary>
    public int ImageCount { get; private set; }

    /// <summary>Detections evaluated so far, after the per-image cut.</summary>
    public int DetectionCount { get; private set; }

    /// <summary>
    /// Matches one image's detections against its ground truth and keeps only the outcome. Boxes are in the same pixel
    /// space (the original image's). Class ids must agree: the model's contiguous ids on both sides.
    /// </summary>
    public void AddImage(ReadOnlySpan<GroundTruthBox> groundTruth, ReadOnlySpan<Detection> detections)
    {
        ImageCount++;

        _ranked.Clear();
        for (var i = 0; i < detections.Length; i++)
        {
            _ranked.Add(new RankedDetection(detections[i], i));
        }

        // Stable by score: the input order breaks ties, as numpy's mergesort does.
        _ranked.Sort(static (a, b) => a.Detection.Score != b.Detection.Score
            ? b.Detection.Score.CompareTo(a.Detection.Score)
            : a.Index.CompareTo(b.Index));
        if (_ranked.Count > MaxDetectionsPerImage)
        {
            _ranked.RemoveRange(MaxDetectionsPerImage, _ranked.Count - MaxDetectionsPerImage);
        }

        DetectionCount += _ranked.Count;

        _imageClasses.Clear();
        foreach (var box in groundTruth)
        {
            _imageClasses.Add(box.ClassId);
        }

        foreach (var ranked in _ranked)
        {
            _imageClasses.Add(ranked.Detection.ClassId);
        }

        foreach (var classId in _imageClasses)
        {
            // Regular objects first, crowd regions last (pycocotools sorts ground truth by its ignore flag, stably).
            _classGroundTruth.Clear();
            foreach (var box in groundTruth)
            {
                if (box.ClassId == classId && !box.IsCrowd)
                {
                    _classGroundTruth.Add(box);
                }
            }

            var regular = _classGroundTruth.Count;
            foreach (var box in groundTruth)
            {
                if (box.ClassId == classId && box.IsCrowd)
                {
                    _classGroundTruth.Add(box);
                }
            }

            _classDetections.Clear();
            foreach (var ranked in _ranked)
            {
                if (ranked.Detection.ClassId == classId)
                {
                    _classDetections.Add(ranked.Detection);
                }
            }

            if (!_classes.TryGetValue(classId, out var accumulator))
            {
                accumulator = new ClassAccumulator();
                _classes.Add(classId, accumulator);
            }

            accumulator.GroundTruth += regular;
            accumulator.CrowdRegions += _classGroundTruth.Count - regular;
            MatchClass(accumulator);
        }
    }

    /// <summary>Computes mAP, mAP@0.5 and per-class AP over every image added so far. Can be called more than once.</summary>
    public EvaluationResult Evaluate()
    {
        var perClass = new List<ClassAveragePrecision>();
        var recall = Array.Empty<double>();
        var precision = Array.Empty<double>();
        var apPerThreshold = new double[IouThresholdValues.Length];

        foreach (var (classId, accumulator) in _classes.OrderBy(entry => entry.Key))
        {
            if (accumulator.GroundTruth == 0)
            {
                // No regular object of this class anywhere: pycocotools leaves its precision at -1, out of every mean.
                continue;
            }

            var records = accumulator.Records.ToArray();
            Array.Sort(records, static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Sequence.CompareTo(b.Sequence));
            if (recall.Length < records.Length)
            {
                recall = new double[records.Length];
                precision = new double[records.Length];
            }

            for (var t = 0; t < IouThresholdValues.Length; t++)
            {
                apPerThreshold[t] = AveragePrecision(records, t, accumulator.GroundTruth, recall, precision);
            }

            perClass.Add(new ClassAveragePrecision(
                classId, apPerThreshold.Average(), apPerThreshold[0], accumulator.GroundTruth, accumulator.CrowdRegions, records.Length));
        }

        return new EvaluationResult(
            perClass.Count == 0 ? -1 : perClass.Average(entry => entry.Ap),
            perClass.Count == 0 ? -1 : perClass.Average(entry => entry.Ap50),
            ImageCount,
            DetectionCount,
            perClass);
    }

    /// <summary>
    /// IoU of a detection with a ground-truth box, as pycocotools' bbIou: for a crowd region the union is the
    /// detection's area alone, so a detection lying inside a crowd scores 1 however small it is.
    /// </summary>
    public static double IntersectionOverUnion(in Detection detection, in GroundTruthBox groundTruth)
    {
        double x1 = detection.X1, y1 = detection.Y1, x2 = detection.X2, y2 = detection.Y2;
        var width = Math.Min(x2, groundTruth.X2) - Math.Max(x1, groundTruth.X1);
        if (width <= 0)
        {
            return 0;
        }

        var height = Math.Min(y2, groundTruth.Y2) - Math.Max(y1, groundTruth.Y1);
        if (height <= 0)
        {
            return 0;
        }

        var intersection = width * height;
        var detectionArea = (x2 - x1) * (y2 - y1);
        var union = groundTruth.IsCrowd ? detectionArea : detectionArea + groundTruth.Width * groundTruth.Height - intersection;
        return intersection / union;
    }

    /// <summary>101-point interpolated AP at one IoU threshold over records already ranked by score.</summary>
    private static double AveragePrecision(DetectionRecord[] records, int threshold, int groundTruth, double[] recall, double[] precision)
    {
        var bit = 1 << threshold;
        var count = records.Length;
        int truePositives = 0, falsePositives = 0;
        for (var i = 0; i < count; i++)
        {
            var record = records[i];
            if ((record.Ignored & bit) == 0)
            {
                if ((record.Matched & bit) != 0)
                {
                    truePositives++;
                }
                else
                {
                    falsePositives++;
                }
            }

            recall[i] = (double)truePositives / groundTruth;
            var judged = truePositives + falsePositives;
            precision[i] = judged == 0 ? 0 : (double)truePositives / judged;
        }

        // The precision envelope: at each rank, the best precision reachable at this recall or beyond.
        for (var i = count - 1; i > 0; i--)
        {
            if (precision[i] > precision[i - 1])
            {
                precision[i - 1] = precision[i];
            }
        }

        // For each recall threshold, the precision at the first rank whose recall reaches it (numpy searchsorted,
        // side "left"); thresholds beyond the final recall contribute 0.
        var sum = 0.0;
        var rank = 0;
        foreach (var recallThreshold in RecallThresholdValues)
        {
            while (rank < count && recall[rank] < recallThreshold)
            {
                rank++;
            }

            if (rank == count)
            {
                break;
            }

            sum += precision[rank];
        }

        return sum / RecallThresholdValues.Length;
    }

    private static double[] Linspace(double start, double stop, int count)
    {
        var step = (stop - start) / (count - 1);
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = i * step + start;
        }

        values[^1] = stop;
        return values;
    }

    /// <summary>pycocotools' evaluateImg for one image and class: greedy matching at each IoU threshold.</summary>
    private void MatchClass(ClassAccumulator accumulator)
    {
        var detectionCount = _classDetections.Count;
        if (detectionCount == 0)
        {
            return;
        }

        var groundTruthCount = _classGroundTruth.Count;
        if (_ious.Length < detectionCount * groundTruthCount)
        {
            _ious = new double[detectionCount * groundTruthCount];
        }

        if (_groundTruthTaken.Length < groundTruthCount)
        {
            _groundTruthTaken = new bool[groundTruthCount];
        }

        if (_matched.Length < detectionCount)
        {
            _matched = new ushort[detectionCount];
            _ignored = new ushort[detectionCount];
        }

        for (var d = 0; d < detectionCount; d++)
        {
            var detection = _classDetections[d];
            for (var g = 0; g < groundTruthCount; g++)
            {
                var box = _classGroundTruth[g];
                _ious[d * groundTruthCount + g] = IntersectionOverUnion(detection, box);
            }
        }

        var matched = _matched.AsSpan(0, detectionCount);
        var ignored = _ignored.AsSpan(0, detectionCount);
        matched.Clear();
        ignored.Clear();
        var taken = _groundTruthTaken.AsSpan(0, groundTruthCount);
        for (var t = 0; t < IouThresholdValues.Length; t++)
        {
            taken.Clear();
            for (var d = 0; d < detectionCount; d++)
            {
                var bestIou = Math.Min(IouThresholdValues[t], 1 - 1e-10);
                var best = -1;
                for (var g = 0; g < groundTruthCount; g++)
                {
                    var isCrowd = _classGroundTruth[g].IsCrowd;
                    if (taken[g] && !isCrowd)
                    {
                        continue;
                    }

                    // Already matched a regular object, and only crowd regions are left: keep the regular match.
                    if (best > -1 && !_classGroundTruth[best].IsCrowd && isCrowd)
                    {
                        break;
                    }

                    var iou = _ious[d * groundTruthCount + g];
                    if (iou < bestIou)
                    {
                        continue;
                    }

                    bestIou = iou;
                    best = g;
                }

                if (best == -1)
                {
                    continue;
                }

                matched[d] |= (ushort)(1 << t);
                if (_classGroundTruth[best].IsCrowd)
                {
                    ignored[d] |= (ushort)(1 << t);
                }

                taken[best] = true;
            }
        }

        for (var d = 0; d < detectionCount; d++)
        {
            accumulator.Records.Add(new DetectionRecord(_classDetections[d].Score, _sequence++, matched[d], ignored[d]));
        }
    }

    private readonly record struct RankedDetection(Detection Detection, int Index);

    /// <summary>What evaluation keeps of one detection: its score, its rank in arrival order, and per IoU threshold whether it matched and whether that match was a crowd region.</summary>
    private readonly record struct DetectionRecord(float Score, long Sequence, ushort Matched, ushort Ignored);

    private sealed class ClassAccumulator
    {
        public int GroundTruth { get; set; }

        public int CrowdRegions { get; set; }

        public List<DetectionRecord> Records { get; } = [];
    }
}
