using System.Runtime.CompilerServices;

namespace YoloFleet.Inference.Tests.Support;

/// <summary>Files checked into the repository (not the shared data folder), e.g. models/manifests.</summary>
internal static class RepoFiles
{
    private const string SolutionFileName = "YoloFleet.sln";

    public static string Path(params string[] relative) => System.IO.Path.Combine([Root(), .. relative]);

    /// <summary>
    /// The folder holding YoloFleet.sln, searched upwards from the test binaries, the working folder and, for builds
    /// whose output lies outside the repository (--artifacts-path), this source file's folder.
    /// </summary>
    private static string Root([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory, System.IO.Path.GetDirectoryName(sourceFile) ?? "" })
        {
            for (var folder = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(folder.FullName, SolutionFileName)))
                {
                    return folder.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException($"No folder holding {SolutionFileName} above the test binaries, the working folder or '{sourceFile}'.");
    }
}
