using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class ClassNamesTests
{
    [Fact]
    public void Without_a_names_file_classes_are_numbered()
    {
        using var folder = new TempFolder();

        Assert.Equal(["class0", "class1", "class2"], ClassNames.Load(folder.File("model.onnx"), 3));
    }

    [Fact]
    public void A_names_file_named_after_the_model_wins_over_others()
    {
        using var folder = new TempFolder();
        folder.Write("coco.names", "person\ncar\n");
        folder.Write("model.names", "cat\ndog\n\n\n");

        Assert.Equal(["cat", "dog"], ClassNames.Load(folder.File("model.onnx"), 2));
    }

    [Fact]
    public void The_only_names_file_in_the_folder_is_used()
    {
        using var folder = new TempFolder();
        folder.Write("coco2.names", " person \r\ncar\r\n");

        Assert.Equal(["person", "car"], ClassNames.Load(folder.File("model.onnx"), 2));
    }

    [Fact]
    public void Several_unrelated_names_files_are_ambiguous_so_classes_are_numbered()
    {
        using var folder = new TempFolder();
        folder.Write("a.names", "x\n");
        folder.Write("b.names", "y\n");

        Assert.Equal(["class0"], ClassNames.Load(folder.File("model.onnx"), 1));
    }
}
