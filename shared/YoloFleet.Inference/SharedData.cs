namespace YoloFleet.Inference;

/// <summary>
/// Locates the read-only data folder (models, data sets) that sits beside the repository as <c>&lt;repo&gt;/../shared</c>.
/// Nothing from it is copied into the repository; tests and tools reference it by path.
/// </summary>
public static class SharedData
{
    public const string EnvironmentVariable = "YOLOFLEET_SHARED_DIR";

    private const string SolutionFileName = "YoloFleet.sln";

    private static readonly Lazy<string> LazyRoot = new(() => Locate(
        Environment.GetEnvironmentVariable(EnvironmentVariable),
        [AppContext.BaseDirectory, Environment.CurrentDirectory]));

    /// <summary>The shared data folder.</summary>
    /// <exception cref="DirectoryNotFoundException">Neither the environment variable nor the repository layout leads to it.</exception>
    public static string Root => LazyRoot.Value;

    public static string YoloxNano416 => Path("models", "yolox_nano", "yolox_nano_416.onnx");

    public static string PicoDetS320 => Path("models", "picodet_s", "picodet_s_320_coco.onnx");

    public static string PicoDetS416 => Path("models", "picodet_s", "picodet_s_416_coco.onnx");

    public static string Coco128Images => Path("datasets", "coco128", "images");

    public static string Coco128Labels => Path("datasets", "coco128", "labels");

    /// <summary>A file or folder inside <see cref="Root"/>.</summary>
    /// <exception cref="FileNotFoundException">It does not exist.</exception>
    public static string Path(params string[] relative)
    {
        ArgumentNullException.ThrowIfNull(relative);
        var path = System.IO.Path.Combine([Root, .. relative]);
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new FileNotFoundException(
                $"'{string.Join('/', relative)}' is not in the shared data folder '{Root}' (looked for '{path}').", path);
        }

        return path;
    }

    /// <summary>
    /// The override wins when set. Otherwise walks up from each start folder to the first folder holding
    /// YoloFleet.sln, and takes the "shared" folder beside it.
    /// </summary>
    internal static string Locate(string? overridePath, IEnumerable<string> startFolders)
    {
        if (!string.IsNullOrWhiteSpace(overridePath))
        {
            var fullOverride = System.IO.Path.GetFullPath(overridePath);
            return Directory.Exists(fullOverride)
                ? fullOverride
                : throw new DirectoryNotFoundException(
                    $"{EnvironmentVariable} is set to '{overridePath}', which is not a folder. Point it at the shared data folder (the one holding models/ and datasets/), or unset it to use <repo>/../shared.");
        }

        var searched = new List<string>();
        foreach (var start in startFolders)
        {
            searched.Add(start);
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                if (!File.Exists(System.IO.Path.Combine(folder.FullName, SolutionFileName)))
                {
                    continue;
                }

                // The repository has its own shared/ for shared code; the data lives one level up, beside the repository.
                var candidate = folder.Parent is null ? null : System.IO.Path.Combine(folder.Parent.FullName, "shared");
                if (candidate is not null && Directory.Exists(candidate))
                {
                    return candidate;
                }

                break;
            }
        }

        throw new DirectoryNotFoundException(
            $"Shared data folder not found. Either set {EnvironmentVariable} to the folder holding models/ and datasets/, " +
            $"or place it as 'shared' beside the repository folder (the one holding {SolutionFileName}). " +
            $"Searched upwards from: {string.Join(", ", searched)}.");
    }
}
