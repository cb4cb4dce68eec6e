using System.Text.RegularExpressions;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

public sealed class ModelMetadataTests(YoloxNanoFixture fixture) : IClassFixture<YoloxNanoFixture>
{
    private readonly ModelInfo _model = fixture.Detector.Model;

    [Fact]
    public void Version_is_file_name_at_first_twelve_hex_of_sha256()
    {
        Assert.Matches(new Regex("^[A-Za-z0-9_.-]+@[0-9a-f]{12}$"), _model.Version);
        // The SHA-256 recorded in models/yolox_nano/SOURCE.txt starts e8af074932d4.
        Assert.Equal("yolox_nano_416@e8af074932d4", _model.Version);
    }

    [Fact]
    public void Reports_layout_input_size_and_path()
    {
        Assert.Equal("yolox", _model.Layout);
        Assert.Equal(416, _model.InputWidth);
        Assert.Equal(416, _model.InputHeight);
        Assert.Equal(Path.GetFullPath(SharedData.YoloxNano416), _model.Path);
    }

    [Fact]
    public void Reads_the_80_coco_class_names_beside_the_model()
    {
        Assert.Equal(80, _model.ClassNames.Count);
        Assert.Equal("person", _model.ClassNames[0]);
        Assert.Equal("toothbrush", _model.ClassNames[79]);
    }
}
