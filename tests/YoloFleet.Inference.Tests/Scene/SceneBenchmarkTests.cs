using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Scene;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>
/// The scene bench's accounting on a short run (the first 30 frames of vtest.avi, from Debian's opencv-doc, which
/// deploy/install-deps.sh installs; missing, the test fails with how to install it), never its figures.
/// </summary>
[Trait("Category", "Scene")]
public sealed class SceneBenchmarkTests : IDisposable
{
    private readonly TempFolder _temp = new();

    [Fact]
    public void A_short_run_accounts_for_every_frame_box_and_detector_run()
    {
        // Two labelled coco128 images for the tiling part, in the images/ + labels/ layout.
        var images = Directory.CreateDirectory(_temp.File("images")).FullName;
        var labels = Directory.CreateDirectory(_temp.File("labels")).FullName;
        foreach (var id in new[] { "000000000009", "000000000025" })
        {
            File.Copy(Path.Combine(SharedData.Coco128Images, id + ".jpg"), Path.Combine(images, id + ".jpg"));
            File.Copy(Path.Combine(SharedData.Coco128Labels, id + ".txt"), Path.Combine(labels, id + ".txt"));
        }

        var settings = new SceneBenchmarkSettings(
            SharedData.YoloxNano416, SceneBenchmarkSettings.DefaultVideo, NoiseSigma: 3, Threads: 1, images, MaxFrames: 30, new SceneOptions());

        var result = SceneBenchmark.Run(settings, _ => { });

        Assert.Equal((768, 576, 30), (result.Width, result.Height, result.VideoFrames));
        var withStatic = result.WithStaticStretch;
        Assert.Equal((60, 60L), (withStatic.WholeFrame.Frames, withStatic.WholeFrame.DetectorInvocations));
        Assert.Equal(60, withStatic.Scene.Frames);
        Assert.InRange(withStatic.Scene.DetectorInvocations, 2, 45);
        var plans = withStatic.Plans;
        Assert.Equal(60, plans.Skipped + plans.RegionFrames + plans.WholeFrames);
        Assert.True(plans.KeepAlives >= 1);
        Assert.NotNull(withStatic.TargetMet);

        var comparison = withStatic.Comparison;
        Assert.True(comparison.ReferenceBoxes > 100, $"{comparison.ReferenceBoxes} whole-frame boxes in 60 frames of a plaza");
        Assert.InRange(comparison.Matched, 1, comparison.ReferenceBoxes);
        Assert.Equal((double)comparison.Matched / comparison.ReferenceBoxes, comparison.Recall);
        Assert.Equal(comparison.OnlyScene, comparison.OnlySceneDetected + comparison.OnlySceneCarried);
        Assert.Equal(comparison.SceneBoxes, comparison.Matched + comparison.OnlyScene);
        Assert.Equal(withStatic.Scene.DetectorCpuSeconds / withStatic.WholeFrame.DetectorCpuSeconds, withStatic.CpuRatio, 9);

        var alone = result.VideoAlone;
        Assert.Equal((30, 30L, 30), (alone.WholeFrame.Frames, alone.WholeFrame.DetectorInvocations, alone.Scene.Frames));
        Assert.Null(alone.TargetMet);
        Assert.True(alone.Comparison.ReferenceBoxes < comparison.ReferenceBoxes);

        var tiling = Assert.IsType<TilingFigures>(result.Tiling);
        Assert.Equal(2, tiling.ImageCount);
        // Both are 640x480 or so: 4 tiles of 416x416 each, plus the whole image.
        Assert.Equal((2L, 10L), (tiling.WholeInvocations, tiling.TiledInvocations));
        Assert.InRange(tiling.TiledMap, 0, 1);
    }

    [Fact]
    public void A_missing_video_says_how_to_get_it()
    {
        var settings = new SceneBenchmarkSettings(SharedData.YoloxNano416, _temp.File("none.avi"), 3, 1, null, 10, new SceneOptions());

        var error = Assert.Throws<FileNotFoundException>(() => SceneBenchmark.Run(settings, _ => { }));

        Assert.Contains("opencv-doc", error.Message);
    }

    public void Dispose() => _temp.Dispose();
}
