namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// COCO-style box mAP, following pycocotools' COCOeval (iouType "bbox") step by step, for the area range "all" and for
/// the three object sizes (small, medium, large):
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
/// <item>by size, with pycocotools' areaRng: small [0, 32²], medium [32², 96²], large [96², 1e5²], both ends included
/// (an area of exactly 32² is small and medium). For each range the matching is run again: a ground-truth object whose
/// area (the annotation's, see <see cref="GroundTruthBox.Area"/>) lies outside the range is ignored like a crowd region
/// (sorted last, absorbs a detection that then counts neither way), except that only one detection can claim it; a
/// detection left unmatched whose box area lies outside the range is ignored too. Each size's mAP is the mean over the
/// classes that have a regular object of that size.</item>
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

    // pycocotools' areaRng, in the order of ObjectSize: all, small, medium, large (1e5 ** 2 is its "no limit").
    private static readonly (double Min, double Max)[] AreaRanges = [(0, 1e10), (0, 32 * 32), (32 * 32, 96 * 96), (96 * 96, 1e10)];

    // One 16-bit group of match flags per area range (10 IoU thresholds each) in a DetectionRecord's 64-bit masks.
    private const int BitsPerRange = 16;

    private readonly Dictionary<int, ClassAccumulator> _classes = [];

    // Scratch reused across images.
    private readonly List<RankedDetection> _ranked = [];
    private readonly List<GroundTruthBox> _classGroundTruth = [];
    private readonly List<Detection> _classDetections = [];
    private readonly SortedSet<int> _imageClasses = [];
    private double[] _ious = new double[256];
    private bool[] _groundTruthTaken = new bool[64];
    private bool[] _groundTruthIgnored = new bool[64];
    private int[] _groundTruthOrder = new int[64];
    private ulong[] _matched = new ulong[DefaultMaxDetectionsPerImage];
    private ulong[] _ignored = new ulong[DefaultMaxDetectionsPerImage];

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
            // In the order given (pycocotools keeps the annotations' order and sorts the ignored ones last, stably).
            _classGroundTruth.Clear();
            foreach (var box in groundTruth)
            {
                if (box.ClassId == classId)
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

            foreach (var box in _classGroundTruth)
            {
                if (box.IsCrowd)
                {
                    accumulator.CrowdRegions++;
                    continue;
                }

                for (var range = 0; range < AreaRanges.Length; range++)
                {
                    if (!IsOutside(box.Area, range))
                    {
                        accumulator.GroundTruth[range]++;
                    }
                }
            }

            MatchClass(accumulator);
        }
    }

    /// <summary>
    /// Computes mAP, mAP@0.5, per-class AP and mAP by object size over every image added so far. Can be called more than once.
    /// </summary>
    public EvaluationResult Evaluate()
    {
        var perClass = new List<ClassAveragePrecision>();
        var recall = Array.Empty<double>();
        var precision = Array.Empty<double>();
        var apPerThreshold = new double[IouThresholdValues.Length];
        var sizeSums = new double[AreaRanges.Length];
        var sizeClasses = new int[AreaRanges.Length];
        var sizeObjects = new int[AreaRanges.Length];

        foreach (var (classId, accumulator) in _classes.OrderBy(entry => entry.Key))
        {
            // A class with no regular object in a range: pycocotools leaves its precision at -1, out of that range's mean.
            if (accumulator.GroundTruth.AsSpan().IndexOfAnyExcept(0) < 0)
            {
                continue;
            }

            var records = accumulator.Records.ToArray();
            Array.Sort(records, static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Sequence.CompareTo(b.Sequence));
            if (recall.Length < records.Length)
            {
                recall = new double[records.Length];
                precision = new double[records.Length];
            }

            for (var range = 0; range < AreaRanges.Length; range++)
            {
                var groundTruth = accumulator.GroundTruth[range];
                if (groundTruth == 0)
                {
                    continue;
                }

                for (var t = 0; t < IouThresholdValues.Length; t++)
                {
                    apPerThreshold[t] = AveragePrecision(records, range * BitsPerRange + t, groundTruth, recall, precision);
                }

                sizeSums[range] += apPerThreshold.Average();
                sizeClasses[range]++;
                sizeObjects[range] += groundTruth;
                if (range == (int)ObjectSize.All)
                {
                    perClass.Add(new ClassAveragePrecision(
                        classId, apPerThreshold.Average(), apPerThreshold[0], groundTruth, accumulator.CrowdRegions, records.Length));
                }
            }
        }

        double MeanOver(ObjectSize size) => sizeClasses[(int)size] == 0 ? -1 : sizeSums[(int)size] / sizeClasses[(int)size];

        return new EvaluationResult(
            perClass.Count == 0 ? -1 : perClass.Average(entry => entry.Ap),
            perClass.Count == 0 ? -1 : perClass.Average(entry => entry.Ap50),
            ImageCount,
            DetectionCount,
            perClass)
        {
            MeanApSmall = MeanOver(ObjectSize.Small),
            MeanApMedium = MeanOver(ObjectSize.Medium),
            MeanApLarge = MeanOver(ObjectSize.Large),
            SmallObjects = sizeObjects[(int)ObjectSize.Small],
            MediumObjects = sizeObjects[(int)ObjectSize.Medium],
            LargeObjects = sizeObjects[(int)ObjectSize.Large],
        };
    }

    /// <summary>
    /// The size class of an area, as pycocotools' areaRng: small up to 32² pixels, medium from 32² to 96², large from
    /// 96² (both ends included, so an area of exactly 32² or 96² is in two classes).
    /// </summary>
    public static bool IsInRange(double area, ObjectSize size) => !IsOutside(area, (int)size);

    private static bool IsOutside(double area, int range) => area < AreaRanges[range].Min || area > AreaRanges[range].Max;

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

    /// <summary>
    /// 101-point interpolated AP at one IoU threshold and area range (bit <paramref name="flag"/> of the records' masks)
    /// over records already ranked by score.
    /// </summary>
    private static double AveragePrecision(DetectionRecord[] records, int flag, int groundTruth, double[] recall, double[] precision)
    {
        var bit = 1UL << flag;
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

    /// <summary>
    /// pycocotools' evaluateImg for one image and class, once per area range: greedy matching at each IoU threshold,
    /// with the objects outside the range (and crowd regions) ignored and sorted last.
    /// </summary>
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
            _groundTruthIgnored = new bool[groundTruthCount];
            _groundTruthOrder = new int[groundTruthCount];
        }

        if (_matched.Length < detectionCount)
        {
            _matched = new ulong[detectionCount];
            _ignored = new ulong[detectionCount];
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
        var ignoredTruth = _groundTruthIgnored.AsSpan(0, groundTruthCount);
        var order = _groundTruthOrder.AsSpan(0, groundTruthCount);
        for (var range = 0; range < AreaRanges.Length; range++)
        {
            // gtIg: crowd regions and objects outside the range; argsort(gtIg, kind='mergesort') puts them last, stably.
            var next = 0;
            for (var pass = 0; pass < 2; pass++)
            {
                for (var g = 0; g < groundTruthCount; g++)
                {
                    var box = _classGroundTruth[g];
                    var isIgnored = box.IsCrowd || IsOutside(box.Area, range);
                    if (isIgnored == (pass == 1))
                    {
                        order[next] = g;
                        ignoredTruth[next] = isIgnored;
                        next++;
                    }
                }
            }

            for (var t = 0; t < IouThresholdValues.Length; t++)
            {
                var bit = 1UL << (range * BitsPerRange + t);
                taken.Clear();
                for (var d = 0; d < detectionCount; d++)
                {
                    var bestIou = Math.Min(IouThresholdValues[t], 1 - 1e-10);
                    var best = -1;
                    for (var position = 0; position < groundTruthCount; position++)
                    {
                        var g = order[position];
                        // A taken object cannot be claimed again, unless it is a crowd region.
                        if (taken[position] && !_classGroundTruth[g].IsCrowd)
                        {
                            continue;
                        }

                        // Already matched an object that counts, and only ignored ones are left: keep that match.
                        if (best > -1 && !ignoredTruth[best] && ignoredTruth[position])
                        {
                            break;
                        }

                        var iou = _ious[d * groundTruthCount + g];
                        if (iou < bestIou)
                        {
                            continue;
                        }

                        bestIou = iou;
                        best = position;
                    }

                    if (best == -1)
                    {
                        // Unmatched: a false positive, unless its own area lies outside the range.
                        var detection = _classDetections[d];
                        if (IsOutside((double)(detection.X2 - detection.X1) * (detection.Y2 - detection.Y1), range))
                        {
                            ignored[d] |= bit;
                        }

                        continue;
                    }

                    matched[d] |= bit;
                    if (ignoredTruth[best])
                    {
                        ignored[d] |= bit;
                    }

                    taken[best] = true;
                }
            }
        }

        for (var d = 0; d < detectionCount; d++)
        {
            accumulator.Records.Add(new DetectionRecord(_classDetections[d].Score, _sequence++, matched[d], ignored[d]));
        }
    }

    private readonly record struct RankedDetection(Detection Detection, int Index);

    /// <summary>
    /// What evaluation keeps of one detection: its score, its rank in arrival order, and per area range and IoU threshold
    /// (bit range * 16 + threshold) whether it matched and whether it is ignored there.
    /// </summary>
    private readonly record struct DetectionRecord(float Score, long Sequence, ulong Matched, ulong Ignored);

    private sealed class ClassAccumulator
    {
        /// <summary>Regular (non-crowd) objects per area range (pycocotools' npig), indexed by <see cref="ObjectSize"/>.</summary>
        public int[] GroundTruth { get; } = new int[AreaRanges.Length];

        public int CrowdRegions { get; set; }

        public List<DetectionRecord> Records { get; } = [];
    }
}
