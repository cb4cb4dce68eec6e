using YoloFleet.Inference;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

/// <summary>
/// The promise of the quantizer's defaults, on the shipped detectors: with no option but the data, the INT8 model
/// keeps mAP@[.5:.95] within 0.010 of FP32 on labelled images that were not used for calibration, and its report says
/// so. This is what `yolofleet quantize --model M --out Q` does with coco128 as the calibration folder. Slow (the
/// sensitivity analysis runs on the real model): minutes per model.
/// </summary>
[Trait("Category", "QuantizerDefaults")]
public sealed class RealModelAccuracyGuardTests
{
    public static TheoryData<string> Models => new() { SharedData.YoloxNano416, SharedData.PicoDetS320 };

    [Theory]
    [MemberData(nameof(Models))]
    public void With_default_options_held_out_mAP_stays_within_the_tolerance_and_the_report_says_so(string modelPath)
    {
        var fp32 = OnnxModelFile.Load(modelPath);
        using var calibration = new ImageFolderCalibrationSet(modelPath, SharedData.Coco128Images, QuantizerOptions.DefaultCalibrationImages);
        using var check = HeldOutMeanApCheck.ForFolder(modelPath, SharedData.Coco128Images, calibration.Files, threads: Environment.ProcessorCount);
        Assert.NotNull(check);
        var options = new QuantizerOptions { AccuracyCheck = check };

        var report = ModelQuantizer.Quantize(fp32, calibration, options).Report;

        var final = report.AccuracySteps[^1].Measurement;
        Assert.Equal(YoloFleet.Inference.Benchmarking.BenchmarkImages.ImageFilesIn(SharedData.Coco128Images).Count() - calibration.Count, final.Frames);
        Assert.True(final.Loss <= QuantizationReport.MeanApTolerance,
            $"{Path.GetFileName(modelPath)}: held-out mAP {final.Fp32:F4} -> {final.Int8:F4} (loss {final.Loss:F4}) with {report.AutoExcluded.Count} layers in FP32");

        // The guard aims at half the tolerance and may stop at the layer cap short of it; the report says which.
        Assert.NotNull(report.AccuracyGuardPassed);
        Assert.Contains(report.AccuracyGuardPassed == true ? "-> passed" : "NOT passed", report.ToTable(), StringComparison.Ordinal);
    }
}
