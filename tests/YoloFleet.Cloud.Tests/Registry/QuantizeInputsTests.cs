using YoloFleet.Cloud.Registry.Quantization;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>A quantize job's identity: its inputs by content, so the same frames and settings find the same job.</summary>
public sealed class QuantizeInputsTests
{
    private static string Sha(int i) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)));

    private static QuantizeInputs Inputs(IReadOnlyList<FrameReference> calibration, string? folder = null, IReadOnlyList<string>? settings = null) => new(
        "yolox", 3, new string('f', 64), QuantizeInputs.QuantizerTool, settings ?? QuantizeInputs.SettingsOf(new QuantizerOptions(), 64, "fp32-agreement:0.25"),
        new FrameSet(folder is null ? FrameSet.HardFrames : FrameSet.FolderSource, folder, calibration),
        new FrameSet(folder is null ? FrameSet.HardFrames : FrameSet.FolderSource, folder, [new FrameReference("x", Sha(99))]));

    [Fact]
    public void The_split_depends_on_content_alone_and_holds_out_about_a_quarter()
    {
        var frames = Enumerable.Range(0, 400).Select(i => new FrameReference($"pi-{i % 7}:{i}", Sha(i))).ToList();
        var (calibration, heldOut) = CalibrationFrames.Split(frames);
        var (shuffledCalibration, shuffledHeldOut) = CalibrationFrames.Split(frames.OrderBy(frame => frame.Id.Length).ThenByDescending(frame => frame.Id).ToList());

        Assert.Equal(calibration, shuffledCalibration);
        Assert.Equal(heldOut, shuffledHeldOut);
        Assert.Equal(400, calibration.Count + heldOut.Count);
        Assert.InRange(heldOut.Count, 70, 130);
        Assert.All(heldOut, frame => Assert.True(frame.Sha256[0] is >= '0' and <= '3'));
        Assert.Equal(calibration.OrderBy(frame => frame.Sha256, StringComparer.Ordinal), calibration);
    }

    [Fact]
    public void The_same_bytes_twice_count_once_and_a_tiny_set_still_holds_one_frame_out()
    {
        var twice = new[] { new FrameReference("b:1", Sha(1)), new FrameReference("a:1", Sha(1)) };
        var (calibration, heldOut) = CalibrationFrames.Split(twice);
        Assert.Equal(1, calibration.Count + heldOut.Count);
        Assert.Equal("a:1", (calibration.Count == 1 ? calibration : heldOut)[0].Id);

        var noneHeldByRule = Enumerable.Range(0, 50).Select(i => new FrameReference($"f{i}", Sha(i))).Where(frame => frame.Sha256[0] > '3').Take(3).ToList();
        var (three, one) = CalibrationFrames.Split(noneHeldByRule);
        Assert.Equal((2, 1), (three.Count, one.Count));
    }

    [Fact]
    public void The_key_follows_the_frames_content_and_the_settings_but_not_where_the_frames_are_read()
    {
        var frames = new[] { new FrameReference("a.jpg", Sha(1)), new FrameReference("b.jpg", Sha(2)) };

        Assert.Equal(Inputs(frames, "/data/one").Key(), Inputs(frames, "/data/two").Key());
        Assert.Equal(Inputs(frames, "/data/one").Key(), Inputs([new("renamed.jpg", Sha(1)), new("b.jpg", Sha(2))], "/data/one").Key());
        Assert.NotEqual(Inputs(frames).Key(), Inputs([frames[0], new FrameReference("b.jpg", Sha(3))]).Key());
        Assert.NotEqual(Inputs(frames).Key(), Inputs(frames, "/data/one").Key());
        Assert.NotEqual(Inputs(frames).Key(), Inputs(frames, settings: QuantizeInputs.SettingsOf(new QuantizerOptions { AutoExclude = !new QuantizerOptions().AutoExclude }, 64, "fp32-agreement:0.25")).Key());

        var roundTrip = QuantizeInputs.FromJson(Inputs(frames, "/data/one").ToJson());
        Assert.Equal(Inputs(frames, "/data/one").Key(), roundTrip.Key());
        Assert.Equal("/data/one", roundTrip.Calibration.Folder);
    }

    [Fact]
    public void Settings_list_every_quantizer_option_sorted_so_new_defaults_reach_the_lineage()
    {
        var settings = QuantizeInputs.SettingsOf(new QuantizerOptions(), 32, "held-out-map:0.005");

        // Every option but the check object itself (its kind and threshold are the accuracyGuard setting).
        var optionCount = typeof(QuantizerOptions).GetProperties().Length - 1;

        Assert.Equal(optionCount + 2, settings.Count);
        Assert.Contains("accuracyGuard=held-out-map:0.005", settings);
        Assert.DoesNotContain(settings, setting => setting.StartsWith("accuracyCheck=", StringComparison.Ordinal));
        Assert.Equal(settings.Order(StringComparer.Ordinal), settings);
        Assert.Contains("calibrationFrames=32", settings);
        Assert.Contains($"percentile={new QuantizerOptions().Percentile.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}", settings);
        Assert.Contains(settings, setting => setting.StartsWith("method=", StringComparison.Ordinal));
        Assert.Contains("excludeNodes=Conv_1,Conv_2", QuantizeInputs.SettingsOf(new QuantizerOptions { ExcludeNodes = ["Conv_1", "Conv_2"] }, 32, "fp32-agreement:0.25"));
    }

    [Theory]
    [InlineData("calibration pass 1/2 (ranges): 4/8 inputs", 20)]
    [InlineData("calibration pass 2/2 (histograms): 8/8 inputs", 50)]
    [InlineData("sensitivity: 5/10 nodes measured", 62)]
    [InlineData("ranges: 120 calibrated (percentile), 3 narrowed", 50)]
    [InlineData("something else", -1)]
    public void Quantizer_progress_lines_become_job_percentages(string line, int percent) =>
        Assert.Equal(percent, QuantizeJobRunner.PercentOf(line));
}
