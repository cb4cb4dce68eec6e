using System.Numerics.Tensors;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// PP-PicoDet (GFL head) exported without post-processing: per stride level one class-score output [1, N, C]
/// (sigmoid already applied) and one box-distribution output [1, N, 4 * B], sides l, t, r, b of B bins each.
/// A cell's distance to each side is the expectation of the softmax over its bins, times the stride, measured from
/// the cell centre ((gx + 0.5) * s, (gy + 0.5) * s).
/// </summary>
internal sealed class PicoDetGflDecoder : IDetectionDecoder
{
    public const string Name = "picodet-gfl";

    public const string Description = "picodet-gfl: per stride level, class scores [1,N,C] plus box distributions [1,N,4*B]";

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

    public static PicoDetGflDecoder? TryCreate(ModelSignature signature)
    {
        var outputs = signature.Outputs;
        if (outputs.Count < 2 || outputs.Count % 2 != 0 ||
            outputs.Any(output => output.Dimensions is not [1 or -1, > 0, > 0]))
        {
            return null;
        }

        // Pair the two outputs of each level by their cell count; the finest level (most cells) has the smallest stride.
        var byLevel = outputs
            .Select((output, index) => (Output: output, Index: index))
            .GroupBy(entry => entry.Output.Dimensions[1])
            .OrderByDescending(group => group.Key)
            .ToList();
        if (byLevel.Any(group => group.Count() != 2))
        {
            return null;
        }

        var strides = ModelLayouts.StridesFor([.. byLevel.Select(group => group.Key)], signature.InputWidth, signature.InputHeight);
        if (strides is null)
        {
            return null;
        }

        var pairs = new List<(TensorSignature Scores, TensorSignature Boxes)>();
        foreach (var group in byLevel)
        {
            var (first, second) = (group.First().Output, group.Last().Output);
            // The box output's width is 4 * bins; when both could be (C happens to be a multiple of 4), the export
            // order decides: PaddleDetection lists the scores first.
            var (scores, boxes) = IsBoxDistribution(second) ? (first, second) : (second, first);
            if (!IsBoxDistribution(boxes))
            {
                return null;
            }

            pairs.Add((scores, boxes));
        }

        var classCount = pairs[0].Scores.Dimensions[2];
        var boxWidth = pairs[0].Boxes.Dimensions[2];
        if (pairs.Any(pair => pair.Scores.Dimensions[2] != classCount || pair.Boxes.Dimensions[2] != boxWidth))
        {
            return null;
        }

        var levels = new Level[pairs.Count];
        var decodeOrder = new List<TensorSignature>();
        for (var i = 0; i < pairs.Count; i++)
        {
            levels[i] = new Level(strides[i], ScoresIndex: decodeOrder.Count, BoxesIndex: decodeOrder.Count + 1);
            decodeOrder.Add(pairs[i].Scores);
            decodeOrder.Add(pairs[i].Boxes);
        }

        return new PicoDetGflDecoder(levels, decodeOrder, classCount, boxWidth / 4, signature.InputWidth);

        static bool IsBoxDistribution(TensorSignature output) =>
            output.Dimensions[2] % 4 == 0 && output.Dimensions[2] / 4 is >= 2 and <= MaxBins;
    }

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
