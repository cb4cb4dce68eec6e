using Microsoft.ML.OnnxRuntime;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class ModelLoadErrorTests
{
    [Fact]
    public void Missing_file_names_the_path()
    {
        using var folder = new TempFolder();
        var path = folder.File("nowhere.onnx");

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
        Assert.Equal(path, error.ModelPath);
    }

    [Fact]
    public void Random_bytes_are_not_a_valid_onnx_model()
    {
        using var folder = new TempFolder();
        var bytes = new byte[4096];
        new Random(42).NextBytes(bytes);
        var path = folder.Write("corrupt.onnx", bytes);

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("not a valid ONNX model", error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.IsType<OnnxRuntimeException>(error.InnerException);
    }

    [Fact]
    public void Outputs_matching_no_layout_are_listed_with_the_supported_layouts()
    {
        using var folder = new TempFolder();
        var path = folder.Write("identity.onnx", TinyOnnxModel.Identity(8, 8));

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("same Single [1,3,8,8]", error.Message, StringComparison.Ordinal);
        Assert.Contains("yolox:", error.Message, StringComparison.Ordinal);
        Assert.Contains("picodet-gfl:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Input_with_open_height_and_width_is_refused()
    {
        using var folder = new TempFolder();
        var path = folder.Write("open.onnx", TinyOnnxModel.OpenSizeIdentity());

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("fixed H and W", error.Message, StringComparison.Ordinal);
        Assert.Contains("images", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_file_with_the_wrong_count_is_refused()
    {
        using var folder = new TempFolder();
        var path = folder.Write("two_classes.onnx", TinyOnnxModel.ConstantOutput(32, 32, "output", [1, 21, 7], new float[21 * 7]));
        folder.Write("two_classes.names", "cat\ndog\nbird\n");

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("3 names", error.Message, StringComparison.Ordinal);
        Assert.Contains("2 classes", error.Message, StringComparison.Ordinal);
    }
}

public sealed class ImageFileTests
{
    [Fact]
    public void Text_file_is_not_an_image()
    {
        using var folder = new TempFolder();
        var path = folder.Write("notes.jpg", "this is not a picture\n");

        var error = Assert.Throws<ImageReadException>(() => ImageFile.Read(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("could not be decoded", error.Message, StringComparison.Ordinal);
        Assert.Equal(path, error.ImagePath);
    }

    [Fact]
    public void Missing_image_names_the_path()
    {
        using var folder = new TempFolder();
        var path = folder.File("missing.jpg");

        var error = Assert.Throws<ImageReadException>(() => ImageFile.Read(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_a_jpeg_as_8_bit_bgr()
    {
        using var image = ImageFile.Read(Path.Combine(SharedData.Coco128Images, "000000000009.jpg"));

        Assert.Equal(OpenCvSharp.MatType.CV_8UC3, image.Type());
        Assert.Equal((640, 480), (image.Width, image.Height));
    }
}
