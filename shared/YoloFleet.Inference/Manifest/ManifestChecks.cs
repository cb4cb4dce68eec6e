using YoloFleet.Inference.Layouts;

namespace YoloFleet.Inference.Manifest;

/// <summary>
/// Checks a manifest against the model it claims to describe. A manifest that contradicts its model is refused
/// rather than half-applied: a wrong hash means the manifest was written for another build, and a wrong size,
/// layout or class count would make every detection wrong without any error.
/// </summary>
internal static class ManifestChecks
{
    /// <summary>How messages name a manifest: its file, or its name and version when it was built in memory.</summary>
    public static string NameOf(ModelManifest manifest) => manifest.SourcePath ?? $"{manifest.Name} {manifest.Version}";

    /// <summary>The manifest beside the model ("&lt;model&gt;.manifest.json"), or null when there is none.</summary>
    /// <exception cref="ModelLoadException">It exists but is invalid; the message names it.</exception>
    public static ModelManifest? Discover(string modelPath)
    {
        var path = ModelManifest.PathBeside(modelPath);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return ModelManifest.Load(path);
        }
        catch (ModelLoadException ex)
        {
            throw new ModelLoadException(modelPath, ex.Message, ex.InnerException);
        }
    }

    /// <summary><paramref name="manifest"/> once its fields pass <see cref="ModelManifest.Validate"/>.</summary>
    /// <exception cref="ModelLoadException">A field is bad; the exception carries the model's path.</exception>
    public static ModelManifest Validated(ModelManifest manifest, string modelPath)
    {
        try
        {
            manifest.Validate(NameOf(manifest));
            return manifest;
        }
        catch (ModelLoadException ex)
        {
            throw new ModelLoadException(modelPath, ex.Message, ex.InnerException);
        }
    }

    public static void CheckModelFile(ModelManifest manifest, string modelPath, string sha256, long sizeBytes)
    {
        if (!string.Equals(manifest.Model.Sha256, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw Contradiction(manifest, modelPath,
                $"model.sha256 is {manifest.Model.Sha256}, but the file's SHA-256 is {sha256}. " +
                "The manifest was written for another build of the model: point it at the right file, or regenerate it");
        }

        if (manifest.Model.SizeBytes != sizeBytes)
        {
            throw Contradiction(manifest, modelPath, $"model.sizeBytes is {manifest.Model.SizeBytes}, but the file has {sizeBytes} bytes");
        }
    }

    /// <summary>A manifest input size must equal a fixed model input; for a dynamic one it is the size to use.</summary>
    public static void CheckInput(ModelManifest manifest, string modelPath, int modelWidth, int modelHeight)
    {
        if (manifest.Input is { } input && (input.Width != modelWidth || input.Height != modelHeight))
        {
            throw Contradiction(manifest, modelPath,
                $"input is {input.Width} x {input.Height}, but the model's input is fixed at {modelWidth} x {modelHeight} (width x height)");
        }
    }

    /// <summary>The decoder of the layout the manifest names.</summary>
    public static IDetectionDecoder CreateNamedLayout(ModelManifest manifest, string modelPath, string layout, ModelSignature signature)
    {
        var description = ModelLayouts.Supported.First(text => text.StartsWith(layout + ":", StringComparison.Ordinal));
        return ModelLayouts.Create(layout, signature)
            ?? throw Contradiction(manifest, modelPath,
                $"layout is '{layout}', but the outputs {signature} at input {signature.InputWidth} x {signature.InputHeight} do not fit it ({description})" +
                (ModelLayouts.Recognize(signature) is { } recognised ? $"; they look like '{recognised.Layout}'" : ""));
    }

    private static ModelLoadException Contradiction(ModelManifest manifest, string modelPath, string problem) =>
        new(modelPath, $"The manifest '{NameOf(manifest)}' contradicts the model '{modelPath}': {problem}.");
}
