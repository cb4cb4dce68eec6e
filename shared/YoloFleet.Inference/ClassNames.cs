using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Inference;

/// <summary>
/// Class names for a model. In order of precedence: the manifest's <c>classNames</c>, the ONNX metadata's
/// <c>names</c> (Ultralytics exports carry them), a <c>*.names</c> file (one name per line) beside the model, and
/// last "class0", "class1", ... Whichever is used must list exactly the model's class count.
/// </summary>
internal static class ClassNames
{
    /// <summary>The names by the precedence above.</summary>
    /// <exception cref="ModelLoadException">The names used list a different number of classes than the model has, or the metadata's names cannot be read.</exception>
    public static IReadOnlyList<string> Resolve(string modelPath, string layout, int classCount, ModelManifest? manifest, ExportMetadata metadata)
    {
        if (manifest?.ClassNames is { } fromManifest)
        {
            return fromManifest.Count == classCount
                ? fromManifest
                : throw new ModelLoadException(modelPath,
                    $"The manifest '{ManifestChecks.NameOf(manifest)}' lists {fromManifest.Count} class names, but the model '{modelPath}' " +
                    $"(layout {layout}) has {classCount} classes. Fix classNames in the manifest.");
        }

        if (metadata.ClassNames is { } fromMetadata)
        {
            return fromMetadata.Count == classCount
                ? fromMetadata
                : throw new ModelLoadException(modelPath,
                    $"The ONNX metadata 'names' of '{modelPath}' lists {fromMetadata.Count} names, but its outputs (layout {layout}) have {classCount} classes. " +
                    "Re-export the model, or give the right names in a manifest's classNames.");
        }

        if (metadata.ClassNamesProblem is { } problem)
        {
            throw new ModelLoadException(modelPath,
                $"The ONNX metadata 'names' of '{modelPath}' could not be read: {problem} Give the class names in a manifest's classNames instead.");
        }

        return Load(modelPath, classCount);
    }

    /// <summary>How many classes the names say, by the same precedence; null when nothing names the classes.</summary>
    public static int? CountHint(string modelPath, ModelManifest? manifest, ExportMetadata metadata) =>
        manifest?.ClassNames?.Count ?? metadata.ClassNames?.Count ?? ReadNamesFile(modelPath)?.Names.Count;

    /// <summary>
    /// Looks for "&lt;model name&gt;.names" first, then for the only *.names file in the model's folder (the shared
    /// models sit beside coco80.names). Without one, the names are "class0", "class1", ...
    /// </summary>
    /// <exception cref="ModelLoadException">The names file lists a different number of classes than the model has.</exception>
    public static IReadOnlyList<string> Load(string modelPath, int classCount)
    {
        if (ReadNamesFile(modelPath) is not var (file, names))
        {
            return [.. Enumerable.Range(0, classCount).Select(id => $"class{id}")];
        }

        return names.Count == classCount
            ? names
            : throw new ModelLoadException(modelPath,
                $"The class names file '{file}' lists {names.Count} names, but the model '{modelPath}' has {classCount} classes. " +
                "Fix the names file, or remove it to use class0, class1, ...");
    }

    private static (string File, List<string> Names)? ReadNamesFile(string modelPath)
    {
        var file = FindNamesFile(modelPath);
        if (file is null)
        {
            return null;
        }

        var names = File.ReadAllLines(file).Select(line => line.Trim()).ToList();
        while (names.Count > 0 && names[^1].Length == 0)
        {
            names.RemoveAt(names.Count - 1);
        }

        return (file, names);
    }

    private static string? FindNamesFile(string modelPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var sameName = Path.Combine(folder, Path.GetFileNameWithoutExtension(modelPath) + ".names");
        if (File.Exists(sameName))
        {
            return sameName;
        }

        var namesFiles = Directory.GetFiles(folder, "*.names");
        return namesFiles.Length == 1 ? namesFiles[0] : null;
    }
}
