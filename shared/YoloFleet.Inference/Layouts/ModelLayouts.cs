namespace YoloFleet.Inference.Layouts;

/// <summary>
/// The layouts this library can decode, and the rule that picks one from a model's outputs.
/// <para>
/// Each layout's <c>TryCreate</c> says only whether it could read the outputs. For one output the shapes are:
/// <list type="bullet">
/// <item>yolox   [1, N, 5+C], N = S: one anchor-free prediction per grid cell;</item>
/// <item>yolov5  [1, N, 5+C], N = 3 x S: three anchors per cell;</item>
/// <item>yolov8  [1, 4+C, N], N = S: channel-major, no objectness (YOLOv8 and YOLO11);</item>
/// <item>yolov10 [1, K, 6]: K final boxes, any K;</item>
/// </list>
/// where S is the number of grid cells over strides 8/16/32 (P5) or 8/16/32/64 (P6), each level ceil(W/s) x ceil(H/s).
/// YOLOX and YOLOv5 share the shape [1, N, 85] but never N: for one input size S and 3 x S differ, and the P6 sum is
/// about 85/84 of the P5 sum, so no mix of the two coincides either. So the cell count decides, and the metadata only
/// breaks the ties that shapes leave:
/// <list type="number">
/// <item>When exactly one layout fits the shapes, it is that one, whatever the metadata says.</item>
/// <item>When several fit and the metadata says <c>end2end</c>, the NMS-free layout wins (a 1-class [1,S,6] YOLOv10).</item>
/// <item>When several fit and the model carries Ultralytics metadata (<c>names</c> or <c>stride</c>, as YOLOv5's and
/// Ultralytics' exporters write), an Ultralytics layout wins: a dynamic export's open N fits both YOLOX and YOLOv5,
/// and a tiny input can make [1, 84, 84] fit both YOLOX and YOLOv8.</item>
/// <item>Otherwise the first in list order wins (YOLOX before YOLOv5; the NMS-free layout last).</item>
/// </list>
/// The metadata's <c>stride</c> (32 or 64) also narrows the grid to P5 or P6. A manifest's <c>layout</c> skips the
/// rule and asks that one layout, which must still fit the shapes.
/// </para>
/// </summary>
internal static class ModelLayouts
{
    private static readonly int[] P5Strides = [8, 16, 32];
    private static readonly int[] P6Strides = [8, 16, 32, 64];

    private static readonly LayoutEntry[] Known =
    [
        new(YoloxDecoder.Name, YoloxDecoder.Description, Ultralytics: false, YoloxDecoder.TryCreate),
        new(YoloV5Decoder.Name, YoloV5Decoder.Description, Ultralytics: true, YoloV5Decoder.TryCreate),
        new(YoloV8Decoder.Name, YoloV8Decoder.Description, Ultralytics: true, YoloV8Decoder.TryCreate),
        new(YoloV10Decoder.Name, YoloV10Decoder.Description, Ultralytics: true, YoloV10Decoder.TryCreate),
        new(PicoDetGflDecoder.Name, PicoDetGflDecoder.Description, Ultralytics: false, PicoDetGflDecoder.TryCreate),
    ];

    public static IEnumerable<string> Supported => Known.Select(layout => layout.Description);

    /// <summary>The layout names a manifest may give: yolox, yolov5, yolov8, yolov10, picodet-gfl.</summary>
    public static IEnumerable<string> Names => Known.Select(layout => layout.Name);

    public static bool IsKnown(string name) => Known.Any(layout => layout.Name == name);

    /// <summary>The named layout's decoder, or null when its outputs do not fit that layout.</summary>
    public static IDetectionDecoder? Create(string name, ModelSignature signature) =>
        Known.Single(layout => layout.Name == name).TryCreate(signature);

    /// <summary>The layout of a model's outputs by the rule above, or null when none fits.</summary>
    public static IDetectionDecoder? Recognize(ModelSignature signature)
    {
        var fitting = new List<(LayoutEntry Layout, IDetectionDecoder Decoder)>();
        foreach (var layout in Known)
        {
            if (layout.TryCreate(signature) is { } decoder)
            {
                fitting.Add((layout, decoder));
            }
        }

        if (fitting.Count <= 1)
        {
            return fitting.Count == 1 ? fitting[0].Decoder : null;
        }

        var metadata = signature.Metadata;
        if (metadata.EndToEnd && fitting.FirstOrDefault(entry => entry.Decoder.IsNmsFree).Decoder is { } endToEnd)
        {
            return endToEnd;
        }

        var family = fitting.Where(entry => entry.Layout.Ultralytics == metadata.IsUltralytics).ToList();
        var preferred = family.Count > 0 ? family : fitting;
        return preferred.OrderBy(entry => entry.Decoder.IsNmsFree).First().Decoder;
    }

    /// <summary>The stride sets a grid head may use: P5 and P6, or the one that the metadata's <c>stride</c> names.</summary>
    public static IEnumerable<int[]> StrideSets(ExportMetadata metadata) => metadata.Stride switch
    {
        32 => [P5Strides],
        64 => [P6Strides],
        _ => [P5Strides, P6Strides],
    };

    /// <summary>
    /// The strides of a grid head whose output lists <paramref name="predictionsPerCell"/> predictions per cell in
    /// <paramref name="count"/> rows, and that count; null when no stride set fits. An open count (-1, a dynamic export)
    /// takes the first stride set's count for the input size.
    /// </summary>
    public static (int[] Strides, int Count)? MatchGrid(int count, int predictionsPerCell, ModelSignature signature)
    {
        foreach (var strides in StrideSets(signature.Metadata))
        {
            var expected = predictionsPerCell * strides.Sum(stride => CellCount(stride, signature.InputWidth, signature.InputHeight));
            if (count == expected || count == -1)
            {
                return (strides, expected);
            }
        }

        return null;
    }

    /// <summary>
    /// The strides of a feature pyramid whose levels have <paramref name="cellCounts"/> cells, or null when no
    /// power-of-two stride gives that count. A level of stride s has ceil(W/s) x ceil(H/s) cells.
    /// </summary>
    public static int[]? StridesFor(IReadOnlyList<int> cellCounts, int inputWidth, int inputHeight)
    {
        var strides = new int[cellCounts.Count];
        for (var level = 0; level < cellCounts.Count; level++)
        {
            var stride = 0;
            for (var candidate = 4; candidate <= 128; candidate *= 2)
            {
                if (CellCount(candidate, inputWidth, inputHeight) == cellCounts[level])
                {
                    stride = candidate;
                    break;
                }
            }

            if (stride == 0)
            {
                return null;
            }

            strides[level] = stride;
        }

        return strides;
    }

    public static int CellCount(int stride, int inputWidth, int inputHeight) =>
        GridSize(inputWidth, stride) * GridSize(inputHeight, stride);

    public static int GridSize(int length, int stride) => (length + stride - 1) / stride;

    private sealed record LayoutEntry(string Name, string Description, bool Ultralytics, Func<ModelSignature, IDetectionDecoder?> TryCreate);
}
