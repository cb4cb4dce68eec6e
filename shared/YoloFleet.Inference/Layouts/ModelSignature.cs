namespace YoloFleet.Inference.Layouts;

/// <summary>A model tensor's name and shape as the model declares it; -1 marks a dimension the model leaves open.</summary>
internal sealed record TensorSignature(string Name, IReadOnlyList<int> Dimensions)
{
    public override string ToString() => $"{Name} [{string.Join(',', Dimensions)}]";
}

/// <summary>The input size and the outputs of a single-image detector, which is what layout recognition looks at.</summary>
internal sealed record ModelSignature(int InputWidth, int InputHeight, IReadOnlyList<TensorSignature> Outputs)
{
    public override string ToString() => string.Join(", ", Outputs);
}
