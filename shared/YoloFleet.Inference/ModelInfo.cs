using YoloFleet.Inference.Manifest;

namespace YoloFleet.Inference;

/// <summary>What <see cref="Detector.Open"/> learned about a model.</summary>
/// <param name="Path">The full path the model was loaded from.</param>
/// <param name="Version">"&lt;file name without extension&gt;@&lt;first 12 hex chars of the file's SHA-256&gt;", e.g. "yolox_nano_416@e8af074932d4".</param>
/// <param name="Layout">The output layout recognised, e.g. "yolox".</param>
public sealed record ModelInfo(string Path, string Version, string Layout, int InputWidth, int InputHeight, IReadOnlyList<string> ClassNames)
{
    /// <summary>The model file's SHA-256, 64 lower-case hex digits.</summary>
    public string Sha256 { get; init; } = "";

    /// <summary>The manifest's <c>precision</c>; <see cref="ModelPrecision.Unknown"/> without one.</summary>
    public ModelPrecision Precision { get; init; }

    /// <summary>The manifest the detector applied, if any.</summary>
    public ModelManifest? Manifest { get; init; }

    /// <summary>The file the manifest came from; null without a manifest or for one built in memory.</summary>
    public string? ManifestPath => Manifest?.SourcePath;
}

/// <summary>The numeric precision of a model's weights and activations, as its manifest states it.</summary>
public enum ModelPrecision
{
    Unknown,
    Fp32,
    Int8,
}
