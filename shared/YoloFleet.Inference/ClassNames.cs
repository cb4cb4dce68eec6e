namespace YoloFleet.Inference;

/// <summary>Class names for a model, from a <c>*.names</c> file (one name per line) beside it.</summary>
internal static class ClassNames
{
    /// <summary>
    /// Looks for "&lt;model name&gt;.names" first, then for the only *.names file in the model's folder (the shared
    /// models sit beside coco80.names). Without one, the names are "class0", "class1", ...
    /// </summary>
    /// <exception cref="ModelLoadException">The names file lists a different number of classes than the model has.</exception>
    public static IReadOnlyList<string> Load(string modelPath, int classCount)
    {
        var file = FindNamesFile(modelPath);
        if (file is null)
        {
            return [.. Enumerable.Range(0, classCount).Select(id => $"class{id}")];
        }

        var names = File.ReadAllLines(file).Select(line => line.Trim()).ToList();
        while (names.Count > 0 && names[^1].Length == 0)
        {
            names.RemoveAt(names.Count - 1);
        }

        return names.Count == classCount
            ? names
            : throw new ModelLoadException(modelPath,
                $"The class names file '{file}' lists {names.Count} names, but the model '{modelPath}' has {classCount} classes. " +
                "Fix the names file, or remove it to use class0, class1, ...");
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
