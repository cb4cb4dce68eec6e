namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>The checkout the tests run from, for the deploy/ scripts and files they check.</summary>
public static class RepositoryFolder
{
    private static readonly Lazy<string> LazyRoot = new(Find);

    /// <summary>The folder holding YoloFleet.sln: YOLOFLEET_REPO_ROOT, else found upwards from the test or the working directory.</summary>
    public static string Root => LazyRoot.Value;

    public static string Path(params string[] relative) => System.IO.Path.Combine([Root, .. relative]);

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("YOLOFLEET_REPO_ROOT") is { Length: > 0 } configured)
        {
            return configured;
        }

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "YoloFleet.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above the test; set YOLOFLEET_REPO_ROOT.");
    }
}
