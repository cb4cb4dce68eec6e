using System.Numerics.Tensors;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// PP-PicoDet and NanoDet (GFL heads) exported without post-processing: per stride level one class-score output
/// [1, N, C] or [N, C] (sigmoid already applied) and one box-distribution output [1, N, 4 * B] or [N, 4 * B], sides
/// l, t, r, b of B bins each, in any order and under any names (<see cref="TryCreate"/>).
/// A cell's distance to each side is the expectation of the softmax over its bins, times the stride, measured from
/// the cell centre ((gx + 0.5) * s, (gy + 0.5) * s).
/// </summary>
internal sealed class PicoDetGflDecoder : IDetectionDecoder
{
    public const string Name = "picodet-gfl";

    public const string Description = "picodet-gfl: per stride level, class scores [1,N,C] plus box distributions [1,N,4*B] (or [N,C] and [N,4*B]), any order and names";

    private const int MaxBins = 64;

    private readonly Level[] _levels;
    private readonly int _inputWidth;
    private readonly float[] _binIndices;

    private PicoDetGflDecoder(Level[] levels, IReadOnlyList<TensorSignature> outputs, int classCount, int bins, int inputWidth)
    {
        _levels = levels;
        Outputs = outputs;
        ClassCount = classCount;
        _inputWidth = inputWidth;
        _binIndices = [.. Enumerable.Range(0, bins).Select(bin => (float)bin)];
    }

    public string Layout => Name;

    public int ClassCount { get; }

    public PreprocessSpec Preprocess => PreprocessSpec.PicoDet;

    public IReadOnlyList<TensorSignature> Outputs { get; }

    /// <summary>
    /// Reads a GFL head from its outputs' shapes alone. Real exports differ in what this must not depend on:
    /// PaddleDetection lists every level's scores and then every level's boxes, NanoDet alternates them, some exporters
    /// drop the batch dimension ([N, C] instead of [1, N, C]), and output names ("save_infer_model/scale_3.tmp_0",
    /// "output_5") say nothing about which tensor is which. So each output may be [1, N, W] or [N, W]; the two outputs
    /// of a level are paired by their cell count N, which also gives the level's stride; and within a pair the class
    /// scores and the box distributions are told apart by their width W (<see cref="SplitPair"/>).
    /// </summary>
    public static PicoDetGflDecoder? TryCreate(ModelSignature signature)
    {
        var outputs = signature.Outputs;
        if (outputs.Count < 2 || outputs.Count % 2 != 0)
        {
            return null;
        }

        var shapes = new (TensorSignature Output, int Cells, int Width)[outputs.Count];
        for (var i = 0; i < outputs.Count; i++)
        {
            if (RowsAndWidth(outputs[i]) is not var (cells, width))
            {
                return null;
            }

            shapes[i] = (outputs[i], cells, width);
        }

        // Pair the two outputs of each level by their cell count; the finest level (most cells) has the smallest stride.
        var byLevel = shapes.GroupBy(shape => shape.Cells).OrderByDescending(group => group.Key).ToList();
        if (byLevel.Any(group => group.Count() != 2))
        {
            return null;
        }

        var strides = ModelLayouts.StridesFor([.. byLevel.Select(group => group.Key)], signature.InputWidth, signature.InputHeight);
        if (strides is null)
        {
            return null;
        }

        // Every level has the same class count and the same number of bins, so the widths of all score outputs agree,
        // and so do those of all box outputs.
        var widths = shapes.Select(shape => shape.Width).Distinct().ToList();
        if (widths.Count > 2 || byLevel.Any(group => group.Count() == 2 && widths.Count == 2 && group.First().Width == group.Last().Width))
        {
            return null;
        }

        if (SplitPair(widths, signature.ClassCountHint) is not var (classCount, boxWidth))
        {
            return null;
        }

        var levels = new Level[byLevel.Count];
        var decodeOrder = new List<TensorSignature>();
        for (var i = 0; i < byLevel.Count; i++)
        {
            var pair = byLevel[i].ToList();

            // With equal widths (C = 4 x bins) shapes cannot tell the two apart; the export order decides, scores first,
            // as PaddleDetection and NanoDet both write them.
            var scores = widths.Count == 1 ? pair[0].Output : pair.First(shape => shape.Width == classCount).Output;
            var boxes = widths.Count == 1 ? pair[1].Output : pair.First(shape => shape.Width == boxWidth).Output;
            levels[i] = new Level(strides[i], ScoresIndex: decodeOrder.Count, BoxesIndex: decodeOrder.Count + 1);
            decodeOrder.Add(scores);
            decodeOrder.Add(boxes);
        }

        return new PicoDetGflDecoder(levels, decodeOrder, classCount, boxWidth / 4, signature.InputWidth);
    }

    /// <summary>
    /// Which of the two widths is the class count and which the box distribution's 4 x bins:
    /// <list type="number">
    /// <item>a width that is no box distribution (not 4 x 2..64 bins) is the class count;</item>
    /// <item>else a class count the model's names give (manifest classNames, ONNX metadata, a .names file) decides;</item>
    /// <item>else 8 bins (width 32) is the box distribution: reg_max 7, the default of both PicoDet and NanoDet;</item>
    /// <item>else the larger width is the class count (GFL heads rarely use more than 16 bins).</item>
    /// </list>
    /// One width only means C = 4 x bins, which is fine for decoding (the export order then pairs them).
    /// </summary>
    internal static (int ClassCount, int BoxWidth)? SplitPair(IReadOnlyList<int> widths, int? classCountHint)
    {
        if (widths.Count == 1)
        {
            return IsBoxDistribution(widths[0]) ? (widths[0], widths[0]) : null;
        }

        var (a, b) = (widths[0], widths[1]);
        if (!IsBoxDistribution(a) && !IsBoxDistribution(b))
        {
            return null;
        }

        if (!IsBoxDistribution(a) || !IsBoxDistribution(b))
        {
            return IsBoxDistribution(a) ? (b, a) : (a, b);
        }

        if (classCountHint is { } hint && (hint == a || hint == b))
        {
            return hint == a ? (a, b) : (b, a);
        }

        const int DefaultBoxWidth = 4 * 8;
        if (a == DefaultBoxWidth || b == DefaultBoxWidth)
        {
            return a == DefaultBoxWidth ? (b, a) : (a, b);
        }

        return a > b ? (a, b) : (b, a);
    }

    private static bool IsBoxDistribution(int width) => width % 4 == 0 && width / 4 is >= 2 and <= MaxBins;

    /// <summary>An output's cell count and row width: [1, N, W] (batch of one, fixed or open) or [N, W] (no batch dimension).</summary>
    private static (int Cells, int Width)? RowsAndWidth(TensorSignature output) => output.Dimensions switch
    {
        [1 or -1, > 0 and var cells, > 0 and var width] => (cells, width),
        [> 0 and var cells, > 0 and var width] => (cells, width),
        _ => null,
    };

    public void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates)
    {
        var bins = _binIndices.Length;
        Span<float> probabilities = stackalloc float[MaxBins];
        probabilities = probabilities[..bins];

        foreach (var level in _levels)
        {
            var scores = outputs[level.ScoresIndex].AsSpan();
            var boxes = outputs[level.BoxesIndex].AsSpan();
            var gridWidth = ModelLayouts.GridSize(_inputWidth, level.Stride);
            var cells = scores.Length / ClassCount;
            for (var cell = 0; cell < cells; cell++)
            {
                var classScores = scores.Slice(cell * ClassCount, ClassCount);
                var classId = TensorPrimitives.IndexOfMax(classScores);
                var score = classScores[classId];
                if (score < confidenceThreshold)
                {
                    continue;
                }

                var distribution = boxes.Slice(cell * 4 * bins, 4 * bins);
                var left = ExpectedDistance(distribution[..bins], probabilities) * level.Stride;
                var top = ExpectedDistance(distribution.Slice(bins, bins), probabilities) * level.Stride;
                var right = ExpectedDistance(distribution.Slice(2 * bins, bins), probabilities) * level.Stride;
                var bottom = ExpectedDistance(distribution.Slice(3 * bins, bins), probabilities) * level.Stride;

                var centreX = (cell % gridWidth + 0.5f) * level.Stride;
                var centreY = (cell / gridWidth + 0.5f) * level.Stride;
                candidates.Add(new Detection(classId, score, centreX - left, centreY - top, centreX + right, centreY + bottom));
            }
        }
    }

    /// <summary>The expected bin index under the softmax of <paramref name="logits"/>, in strides.</summary>
    private float ExpectedDistance(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        TensorPrimitives.SoftMax(logits, probabilities);
        return TensorPrimitives.Dot(probabilities, _binIndices);
    }

    private readonly record struct Level(int Stride, int ScoresIndex, int BoxesIndex);
}
