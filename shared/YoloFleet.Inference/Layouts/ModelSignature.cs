namespace YoloFleet.Inference.Layouts;

/// <summary>A model tensor's name and shape as the model declares it; -1 marks a dimension the model leaves open.</summary>
internal sealed record TensorSignature(string Name, IReadOnlyList<int> Dimensions)
{
    public override string ToString() => $"{Name} [{string.Join(',', Dimensions)}]";
}

/// <summary>The input size and the outputs of a single-image detector, which is what layout recognition looks at.</summary>
internal sealed record ModelSignature(int InputWidth, int InputHeight, IReadOnlyList<TensorSignature> Outputs)
{
    /// <summary>The exporter's ONNX metadata; it breaks the ties that shapes leave (see <see cref="ModelLayouts"/>).</summary>
    public ExportMetadata Metadata { get; init; } = ExportMetadata.None;

    /// <summary>
    /// How many classes the model's names say it has (manifest, then ONNX metadata, then a .names file), for layouts
    /// whose outputs do not show it (YOLOv10's [1,K,6] rows carry a class id, not a score per class).
    /// </summary>
    public int? ClassCountHint { get; init; }

    public override string ToString() => string.Join(", ", Outputs);
}
