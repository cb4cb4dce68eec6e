using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class SharedDataTests
{
    [Fact]
    public void Root_is_the_shared_folder_beside_the_repository()
    {
        var root = SharedData.Root;

        Assert.True(Directory.Exists(Path.Combine(root, "models")), root);
        Assert.True(Directory.Exists(Path.Combine(root, "datasets")), root);
        // Not the repository's own shared/ (which holds code): its parent must not hold the solution.
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(root)!, "YoloFleet.sln")), root);
    }

    [Fact]
    public void Well_known_paths_exist()
    {
        Assert.True(File.Exists(SharedData.YoloxNano416));
        Assert.True(Directory.Exists(SharedData.Coco128Images));
        Assert.True(Directory.Exists(SharedData.Coco128Labels));
    }

    [Fact]
    public void Missing_relative_path_names_it()
    {
        var error = Assert.Throws<FileNotFoundException>(() => SharedData.Path("models", "no_such_model.onnx"));

        Assert.Contains("models/no_such_model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Walks_up_to_the_solution_and_takes_the_sibling_shared_folder()
    {
        using var folder = new TempFolder();
        var repository = Directory.CreateDirectory(Path.Combine(folder.Path, "repo")).FullName;
        File.WriteAllText(Path.Combine(repository, "YoloFleet.sln"), "");
        Directory.CreateDirectory(Path.Combine(repository, "shared", "YoloFleet.Inference"));
        var start = Directory.CreateDirectory(Path.Combine(repository, "tests", "bin", "Debug")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(folder.Path, "shared")).FullName;

        Assert.Equal(data, SharedData.Locate(null, [Path.GetTempPath(), start]));
    }

    [Fact]
    public void Environment_override_wins_and_must_exist()
    {
        using var folder = new TempFolder();

        Assert.Equal(folder.Path, SharedData.Locate(folder.Path, ["/"]));
        var error = Assert.Throws<DirectoryNotFoundException>(() => SharedData.Locate(folder.File("absent"), ["/"]));
        Assert.Contains(SharedData.EnvironmentVariable, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Not_found_says_both_ways_to_fix_it()
    {
        using var folder = new TempFolder();

        var error = Assert.Throws<DirectoryNotFoundException>(() => SharedData.Locate(null, [folder.Path]));

        Assert.Contains(SharedData.EnvironmentVariable, error.Message, StringComparison.Ordinal);
        Assert.Contains("beside the repository", error.Message, StringComparison.Ordinal);
        Assert.Contains(folder.Path, error.Message, StringComparison.Ordinal);
    }
}
