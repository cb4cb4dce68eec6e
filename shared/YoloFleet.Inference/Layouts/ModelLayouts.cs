namespace YoloFleet.Inference.Layouts;

/// <summary>The layouts this library can decode, tried in order against a model's outputs.</summary>
internal static class ModelLayouts
{
    private static readonly (string Description, Func<ModelSignature, IDetectionDecoder?> TryCreate)[] Known =
    [
        (YoloxDecoder.Description, YoloxDecoder.TryCreate),
        (PicoDetGflDecoder.Description, PicoDetGflDecoder.TryCreate),
    ];

    public static IEnumerable<string> Supported => Known.Select(layout => layout.Description);

    public static IDetectionDecoder? Recognize(ModelSignature signature)
    {
        foreach (var (_, tryCreate) in Known)
        {
            if (tryCreate(signature) is { } decoder)
            {
                return decoder;
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
}
