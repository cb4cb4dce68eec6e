namespace YoloFleet.Inference;

/// <summary>What <see cref="Detector.Open"/> learned about a model.</summary>
/// <param name="Path">The full path the model was loaded from.</param>
/// <param name="Version">"&lt;file name without extension&gt;@&lt;first 12 hex chars of the file's SHA-256&gt;", e.g. "yolox_nano_416@e8af074932d4".</param>
/// <param name="Layout">The output layout recognised, e.g. "yolox".</param>
public sealed record ModelInfo(string Path, string Version, string Layout, int InputWidth, int InputHeight, IReadOnlyList<string> ClassNames);
