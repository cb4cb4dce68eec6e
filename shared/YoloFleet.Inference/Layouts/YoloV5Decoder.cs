using System.Numerics.Tensors;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// YOLOv5 (ultralytics/yolov5 export.py, or Ultralytics with a v5 anchor head): one output [1, N, 5 + C], rows
/// [cx, cy, w, h, obj, cls...] with the box already decoded to input pixels and obj and cls already through a
/// sigmoid; N = 3 anchors x cells over strides 8/16/32 (or 8..64 for the P6 models). The score is obj * cls of the
/// best class. Same row shape as YOLOX; <see cref="ModelLayouts"/> tells them apart by N.
/// </summary>
internal sealed class YoloV5Decoder : IDetectionDecoder
{
    public const string Name = "yolov5";

    public const string Description = "yolov5: one output [1,N,5+C] of boxes cx,cy,w,h in input pixels, objectness, classes (N = 3 anchors x cells over strides 8,16,32 or 8..64)";

    private const int BoxAndObjectness = 5;
    private const int AnchorsPerCell = 3;

    private readonly int _rowLength;

    private YoloV5Decoder(TensorSignature output, int classCount)
    {
        Outputs = [output];
        ClassCount = classCount;
        _rowLength = BoxAndObjectness + classCount;
    }

    public string Layout => Name;

    public int ClassCount { get; }

    public PreprocessSpec Preprocess => PreprocessSpec.Ultralytics;

    public IReadOnlyList<TensorSignature> Outputs { get; }

    public static YoloV5Decoder? TryCreate(ModelSignature signature)
    {
        if (signature.Outputs is not [var output] || output.Dimensions is not [1 or -1, var rows, var rowLength] || rowLength <= BoxAndObjectness)
        {
            return null;
        }

        return ModelLayouts.MatchGrid(rows, AnchorsPerCell, signature) is var (_, count)
            ? new YoloV5Decoder(output with { Dimensions = [1, count, rowLength] }, rowLength - BoxAndObjectness)
            : null;
    }

    public void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates)
    {
        var rows = outputs[0].AsSpan();
        for (var start = 0; start + _rowLength <= rows.Length; start += _rowLength)
        {
            var values = rows.Slice(start, _rowLength);

            // score = obj * cls <= obj, so a low objectness rules the row out without looking at its classes.
            var objectness = values[4];
            if (!(objectness >= confidenceThreshold))
            {
                continue;
            }

            var classScores = values[BoxAndObjectness..];
            var classId = TensorPrimitives.IndexOfMax(classScores);
            var score = objectness * classScores[classId];
            if (!(score >= confidenceThreshold))
            {
                continue;
            }

            var halfWidth = values[2] * 0.5f;
            var halfHeight = values[3] * 0.5f;
            candidates.Add(new Detection(classId, score, values[0] - halfWidth, values[1] - halfHeight, values[0] + halfWidth, values[1] + halfHeight));
        }
    }
}
