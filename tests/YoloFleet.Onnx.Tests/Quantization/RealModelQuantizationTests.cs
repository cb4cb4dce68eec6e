using YoloFleet.Inference;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

/// <summary>The shipped detectors, quantized on a few coco128 images and compared on other ones.</summary>
public sealed class RealModelQuantizationTests : IDisposable
{
    // What `yolofleet quantize --auto-exclude` kept in FP32 for picodet_s_320 (docs/quantization.md); fixed here so
    // the test runs in seconds instead of running the sensitivity analysis.
    private static readonly string[] PicoDetSensitiveNodes =
    [
        "Concat_0", "Conv_0", "Mul_0", "Div_0", "MaxPool_0", "Conv_2", "Mul_1", "Div_1", "Concat_5", "Div_10", "Mul_13", "Div_3",
        "Mul_4", "Conv_21", "Conv_7", "Mul_16", "Div_12", "Concat_18", "Conv_26", "Mul_14", "Div_11", "Mul_40", "Div_29", "Conv_65",
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-quant-real-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void PicoDet_int8_loads_and_its_raw_outputs_reach_mean_cosine_0_99_to_fp32_on_held_out_images()
    {
        var fp32 = OnnxModelFile.Load(SharedData.PicoDetS320);
        using var calibration = new ImageFolderCalibrationSet(SharedData.PicoDetS320, SharedData.Coco128Images, maxImages: 16);
        using var heldOut = new ImageFolderCalibrationSet(SharedData.PicoDetS320, SharedData.Coco128Images, maxImages: 3, skipImages: 100);

        var result = ModelQuantizer.Quantize(fp32, calibration, new QuantizerOptions { AutoExclude = false, ExcludeNodes = PicoDetSensitiveNodes, ComparisonSamples = 2 });
        var (outputs, _) = OutputComparison.Compare(fp32, result.Model, heldOut, samples: 3);

        Assert.Equal(8, outputs.Count);
        // Measured on held-out images: the mean over the 8 outputs reaches 0.99; a sparse class-score output (mostly
        // zeros, where a few cells decide the cosine) can sit just under it, so each output is held to 0.98.
        var mean = OutputComparison.MeanCosine(outputs);
        Assert.True(mean >= 0.99, $"mean output cosine {mean:F5} < 0.99: {string.Join(", ", outputs.Select(output => $"{output.Tensor} {output.Cosine:F4}"))}");
        Assert.All(outputs, output => Assert.True(output.Cosine >= 0.98, $"{output.Tensor}: cosine {output.Cosine:F5} < 0.98"));

        // The file the fleet gets opens in the detector like the FP32 one: same layout, real detections.
        var path = Path.Combine(_folder, "picodet_int8.onnx");
        OnnxModelFile.Save(result.Model, path);
        using var detector = Detector.Open(path, new DetectorOptions { IntraOpThreads = 1 });
        using var image = ImageFile.Read(Path.Combine(SharedData.Coco128Images, "000000000009.jpg"));
        Assert.Equal("picodet-gfl", detector.Model.Layout);
        Assert.NotEmpty(detector.Detect(image));
    }

    [Fact]
    public void Yolox_nano_fully_quantized_loads_and_runs_with_every_convolution_fused()
    {
        var fp32 = OnnxModelFile.Load(SharedData.YoloxNano416);
        using var calibration = new ImageFolderCalibrationSet(SharedData.YoloxNano416, SharedData.Coco128Images, maxImages: 4);

        var result = ModelQuantizer.Quantize(fp32, calibration, new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2 });

        // Everything but the decode tail (the 9 head convolutions and what follows them) runs quantized; the tail
        // convolutions compute in FP32 on int8 weights.
        var tailConvs = result.Report.FloatNodes.Where(node => node.OpType == "Conv").ToList();
        Assert.Equal(9, tailConvs.Count);
        Assert.All(tailConvs, node => Assert.EndsWith("(int8 weights)", node.Reason, StringComparison.Ordinal));
        Assert.All(result.Report.FloatNodes, node => Assert.StartsWith("decode tail", node.Reason, StringComparison.Ordinal));
        Assert.Equal(104 + 9, result.Report.Weights.Count);
        // Int8 weights everywhere and short inserted names: under 30% of the FP32 file.
        var ratio = result.Model.CalculateSize() / (double)new FileInfo(SharedData.YoloxNano416).Length;
        Assert.True(ratio <= 0.30, $"INT8/FP32 file size {ratio:F3}");
        // Fully quantized YOLOX-Nano drifts (docs/quantization.md: auto-exclusion brings it to 0.989); it must still be close.
        Assert.True(result.Report.Outputs[0].Cosine >= 0.85, $"output cosine {result.Report.Outputs[0].Cosine:F4}");
    }
}
