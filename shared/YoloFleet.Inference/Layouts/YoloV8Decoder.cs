using System.Numerics.Tensors;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// YOLOv8 and YOLO11 (Ultralytics, anchor-free, no objectness): one output [1, 4 + C, N], channel-major, so the
/// values of prediction i are at i, N + i, 2N + i, ...: cx, cy, w, h in input pixels, then C class scores already
/// through a sigmoid; N = cells over strides 8/16/32 (or 8..64).
/// </summary>
internal sealed class YoloV8Decoder : IDetectionDecoder
{
    public const string Name = "yolov8";

    public const string Description = "yolov8: one output [1,4+C,N], channel-major, boxes cx,cy,w,h in input pixels then class scores (YOLOv8, YOLO11; N = cells over strides 8,16,32 or 8..64)";

    private const int BoxValues = 4;

    private readonly int _predictions;

    // Each prediction's best class score. The class rows are contiguous, so an element-wise max over them is a few
    // vectorised passes, after which only predictions above the threshold look at their classes one by one.
    private readonly float[] _bestScores;

    private YoloV8Decoder(TensorSignature output, int classCount, int predictions)
    {
        Outputs = [output];
        ClassCount = classCount;
        _predictions = predictions;
        _bestScores = new float[predictions];
    }

    public string Layout => Name;

    public int ClassCount { get; }

    public PreprocessSpec Preprocess => PreprocessSpec.Ultralytics;

    public IReadOnlyList<TensorSignature> Outputs { get; }

    public static YoloV8Decoder? TryCreate(ModelSignature signature)
    {
        if (signature.Outputs is not [var output] || output.Dimensions is not [1 or -1, var channels, var predictions] || channels <= BoxValues)
        {
            return null;
        }

        return ModelLayouts.MatchGrid(predictions, predictionsPerCell: 1, signature) is var (_, count)
            ? new YoloV8Decoder(output with { Dimensions = [1, channels, count] }, channels - BoxValues, count)
            : null;
    }

    public void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates)
    {
        var values = outputs[0].AsSpan();
        var count = _predictions;
        var best = _bestScores.AsSpan();
        values.Slice(BoxValues * count, count).CopyTo(best);
        for (var classId = 1; classId < ClassCount; classId++)
        {
            TensorPrimitives.Max(best, values.Slice((BoxValues + classId) * count, count), best);
        }

        for (var i = 0; i < count; i++)
        {
            var score = best[i];
            if (!(score >= confidenceThreshold))
            {
                continue;
            }

            // The first class holding the best score, as IndexOfMax would pick.
            var classId = 0;
            while (classId < ClassCount - 1 && values[(BoxValues + classId) * count + i] != score)
            {
                classId++;
            }

            var centreX = values[i];
            var centreY = values[count + i];
            var halfWidth = values[2 * count + i] * 0.5f;
            var halfHeight = values[3 * count + i] * 0.5f;
            candidates.Add(new Detection(classId, score, centreX - halfWidth, centreY - halfHeight, centreX + halfWidth, centreY + halfHeight));
        }
    }
}
