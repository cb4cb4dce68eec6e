using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Preprocessing;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>
/// The manifests in models/manifests against the real models in the shared data folder. Each states what
/// auto-detection infers, so a detector opened with it must behave exactly as one opened without it.
/// </summary>
public sealed class SharedModelManifestTests
{
    public static TheoryData<string, string> Models => new()
    {
        { "yolox_nano", "yolox_nano_416.onnx" },
        { "picodet_s", "picodet_s_320_coco.onnx" },
        { "picodet_s", "picodet_s_416_coco.onnx" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Manifest_matches_its_model_and_changes_no_detection(string folder, string file)
    {
        var manifestPath = RepoFiles.Path("models", "manifests", file + ModelManifest.FileSuffix);
        var manifest = ModelManifest.Load(manifestPath);
        var modelPath = SharedData.Path("models", folder, file);
        var options = new DetectorOptions { IntraOpThreads = 2 };

        using var inferred = Detector.Open(modelPath, options);
        using var declared = Detector.Open(modelPath, options, manifest);

        Assert.Equal(file, manifest.Model.File);
        Assert.Equal(manifestPath, declared.Model.ManifestPath);
        Assert.Equal(ModelPrecision.Fp32, declared.Model.Precision);
        // Record equality compares the class-name lists by reference, so they are compared on their own.
        Assert.Equal(inferred.Model.ClassNames, declared.Model.ClassNames);
        Assert.Equal(inferred.Model with { Precision = ModelPrecision.Fp32, Manifest = manifest, ClassNames = declared.Model.ClassNames }, declared.Model);
        Assert.Equal(inferred.Thresholds, declared.Thresholds);
        foreach (var imageId in new[] { "000000000009", "000000000025" })
        {
            using var image = ImageFile.Read(CocoLabels.ImagePath(imageId));
            var expected = inferred.Detect(image);
            Assert.NotEmpty(expected);
            Assert.Equal(expected, declared.Detect(image));
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Manifest_states_the_whole_preprocessing_recipe_of_its_layout(string folder, string file)
    {
        _ = folder;
        var manifest = ModelManifest.Load(RepoFiles.Path("models", "manifests", file + ModelManifest.FileSuffix));
        var recipe = manifest.Layout == "yolox" ? PreprocessSpec.Yolox : PreprocessSpec.PicoDet;

        // Applied over an unrelated recipe, every field must come out as the layout's own: none is left to inference.
        Assert.Equal(recipe, manifest.Preprocessing!.ApplyTo(PreprocessSpec.Ultralytics));
    }
}
