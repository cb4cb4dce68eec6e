using System.Numerics.Tensors;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// YOLOX exported without box decoding: one output [1, N, 5 + C], rows [dx, dy, log_w, log_h, obj, cls...] with obj
/// and cls already through a sigmoid, N cells over strides 8/16/32 (or 8..64 for P6 models), levels in stride order,
/// each level row-major. A cell at (gx, gy) of stride s decodes to cx = (dx + gx) * s, w = exp(log_w) * s, and scores
/// obj * cls of its best class.
/// </summary>
internal sealed class YoloxDecoder : IDetectionDecoder
{
    public const string Name = "yolox";

    public const string Description = "yolox: one output [1,N,5+C] of raw grid offsets (N = cells over strides 8,16,32 or 8..64)";

    private const int BoxAndObjectness = 5;

    private readonly int[] _strides;
    private readonly int _inputWidth;
    private readonly int _inputHeight;
    private readonly int _rowLength;

    private YoloxDecoder(TensorSignature output, int[] strides, int classCount, int inputWidth, int inputHeight)
    {
        Outputs = [output];
        _strides = strides;
        ClassCount = classCount;
        _inputWidth = inputWidth;
        _inputHeight = inputHeight;
        _rowLength = BoxAndObjectness + classCount;
    }

    public string Layout => Name;

    public int ClassCount { get; }

    public PreprocessSpec Preprocess => PreprocessSpec.Yolox;

    public IReadOnlyList<TensorSignature> Outputs { get; }

    public static YoloxDecoder? TryCreate(ModelSignature signature)
    {
        if (signature.Outputs is not [var output] || output.Dimensions is not [1 or -1, var cells, var rowLength] || rowLength <= BoxAndObjectness)
        {
            return null;
        }

        // One prediction per cell; an open N (dynamic export) is taken as the input size's cell count.
        return ModelLayouts.MatchGrid(cells, predictionsPerCell: 1, signature) is var (strides, count)
            ? new YoloxDecoder(output with { Dimensions = [1, count, rowLength] }, strides, rowLength - BoxAndObjectness, signature.InputWidth, signature.InputHeight)
            : null;
    }

    public void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates)
    {
        var rows = outputs[0].AsSpan();
        var row = 0;
        foreach (var stride in _strides)
        {
            var gridWidth = ModelLayouts.GridSize(_inputWidth, stride);
            var gridHeight = ModelLayouts.GridSize(_inputHeight, stride);
            for (var gy = 0; gy < gridHeight; gy++)
            {
                for (var gx = 0; gx < gridWidth; gx++, row++)
                {
                    var values = rows.Slice(row * _rowLength, _rowLength);

                    // score = obj * cls <= obj, so a low objectness rules the cell out without looking at its classes.
                    var objectness = values[4];
                    if (objectness < confidenceThreshold)
                    {
                        continue;
                    }

                    var classScores = values[BoxAndObjectness..];
                    var classId = TensorPrimitives.IndexOfMax(classScores);
                    var score = objectness * classScores[classId];
                    if (score < confidenceThreshold)
                    {
                        continue;
                    }

                    var centreX = (values[0] + gx) * stride;
                    var centreY = (values[1] + gy) * stride;
                    var halfWidth = MathF.Exp(values[2]) * stride * 0.5f;
                    var halfHeight = MathF.Exp(values[3]) * stride * 0.5f;
                    candidates.Add(new Detection(classId, score, centreX - halfWidth, centreY - halfHeight, centreX + halfWidth, centreY + halfHeight));
                }
            }
        }
    }
}
