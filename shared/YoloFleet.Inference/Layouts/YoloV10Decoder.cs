using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// YOLOv10 and other Ultralytics end-to-end heads: one output [1, K, 6], rows [x1, y1, x2, y2, score, class] in
/// input pixels, already free of duplicates (no NMS). Rows past the real detections score 0 and fall below any
/// threshold. The rows carry a class id, not a score per class, so the class count comes from the model's names.
/// </summary>
internal sealed class YoloV10Decoder : IDetectionDecoder
{
    public const string Name = "yolov10";

    public const string Description = "yolov10: one output [1,K,6] of final boxes x1,y1,x2,y2,score,class in input pixels (end-to-end, no NMS)";

    private const int RowLength = 6;

    private YoloV10Decoder(TensorSignature output, int classCount)
    {
        Outputs = [output];
        ClassCount = classCount;
    }

    public string Layout => Name;

    /// <summary>From the names (manifest, metadata or .names file); 0 when nothing says, which the detector refuses.</summary>
    public int ClassCount { get; }

    public PreprocessSpec Preprocess => PreprocessSpec.Ultralytics;

    public IReadOnlyList<TensorSignature> Outputs { get; }

    public bool IsNmsFree => true;

    public static YoloV10Decoder? TryCreate(ModelSignature signature) =>
        signature.Outputs is [var output] && output.Dimensions is [1 or -1, > 0 or -1, RowLength]
            ? new YoloV10Decoder(output with { Dimensions = [1, output.Dimensions[1], RowLength] }, signature.ClassCountHint ?? 0)
            : null;

    public void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates)
    {
        var rows = outputs[0].AsSpan();
        for (var start = 0; start + RowLength <= rows.Length; start += RowLength)
        {
            var values = rows.Slice(start, RowLength);
            var score = values[4];
            if (!(score >= confidenceThreshold))
            {
                continue;
            }

            // A class id outside the names would index nothing; such a row is not a usable detection.
            var classId = (int)values[5];
            if ((uint)classId >= (uint)ClassCount || classId != values[5])
            {
                continue;
            }

            candidates.Add(new Detection(classId, score, values[0], values[1], values[2], values[3]));
        }
    }
}
