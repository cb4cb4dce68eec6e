using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

/// <summary>
/// The accuracy guard's control: after the cosine search, the quantizer keeps adding the most sensitive layers to FP32
/// while the check measures too large a loss, and keeps the best measured step when the cap comes first. The check here
/// reads its losses from a script so that each path is taken for certain; it records the models it was shown, which
/// must be the real candidates (fewer quantized nodes each step). The real checks run on real models in
/// RealModelAccuracyGuardTests.
/// </summary>
public sealed class AccuracyGuardTests
{
    private static InMemoryCalibrationSet Calibration() => new(SyntheticModels.Inputs(8), "synthetic");

    private static QuantizerOptions Options(IAccuracyCheck check, int cap = 5) => new()
    {
        AutoExclude = true,
        TargetCosine = 1e-9, // the cosine search alone would keep every layer quantized
        ComparisonSamples = 2,
        MaxAutoExcluded = cap,
        PlateauWindow = 0,
        GuardStep = 1,
        AccuracyCheck = check,
    };

    [Fact]
    public void A_model_that_passes_at_once_keeps_every_layer_quantized_and_the_report_says_it_passed()
    {
        var check = new ScriptedCheck(0.001);

        var report = ModelQuantizer.Quantize(SyntheticModels.ConvBlock(), Calibration(), Options(check)).Report;

        Assert.Empty(report.AutoExcluded);
        Assert.Empty(report.Sensitivity); // no ranking was needed
        Assert.Single(report.AccuracySteps);
        Assert.True(report.AccuracyGuardPassed);
        Assert.Contains("\"accuracyGuard\"", report.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_loss_above_the_guard_moves_the_most_sensitive_layers_to_fp32_until_it_passes()
    {
        var check = new ScriptedCheck(0.020, 0.015, 0.004);

        var report = ModelQuantizer.Quantize(SyntheticModels.ConvBlock(), Calibration(), Options(check)).Report;

        Assert.Equal(report.Sensitivity.Take(2).Select(layer => layer.Node), report.AutoExcluded);
        Assert.Equal([0, 1, 2], report.AccuracySteps.Select(step => step.AutoExcluded));
        Assert.True(report.AccuracyGuardPassed);
        Assert.Equal(3, check.QuantizedNodes.Count);
        Assert.True(check.QuantizedNodes[0] > check.QuantizedNodes[1] && check.QuantizedNodes[1] > check.QuantizedNodes[2],
            $"each step must show the check a model with fewer quantized nodes: {string.Join(", ", check.QuantizedNodes)}");
    }

    [Fact]
    public void When_the_cap_comes_first_the_best_measured_step_is_kept_and_the_report_says_the_guard_was_not_passed()
    {
        var check = new ScriptedCheck(0.030, 0.020, 0.025, 0.040);

        var report = ModelQuantizer.Quantize(SyntheticModels.ConvBlock(), Calibration(), Options(check, cap: 3)).Report;

        Assert.Equal(report.Sensitivity.Take(1).Select(layer => layer.Node), report.AutoExcluded);
        Assert.Equal(1, report.AccuracySteps[^1].AutoExcluded);
        Assert.Equal(0.020, report.AccuracySteps[^1].Measurement.Loss, precision: 9);
        Assert.False(report.AccuracyGuardPassed);
        Assert.Contains("NOT passed", report.ToTable(), StringComparison.Ordinal);
    }

    [Fact]
    public void Without_auto_exclusion_the_check_still_measures_once_for_the_report()
    {
        var check = new ScriptedCheck(0.5);
        var options = Options(check);
        options.AutoExclude = false;

        var report = ModelQuantizer.Quantize(SyntheticModels.ConvBlock(), Calibration(), options).Report;

        Assert.Empty(report.AutoExcluded);
        Assert.False(report.AccuracyGuardPassed);
    }

    /// <summary>Answers the scripted losses in order (the last one again when they run out).</summary>
    private sealed class ScriptedCheck(params double[] losses) : IAccuracyCheck
    {
        public List<int> QuantizedNodes { get; } = [];

        public string Description => "scripted";

        public double Guard => 0.005;

        public void Dispose()
        {
        }

        public AccuracyMeasurement Measure(ModelProto int8)
        {
            QuantizedNodes.Add(int8.Graph.Node.Count(node => node.OpType == "QuantizeLinear"));
            var loss = losses[Math.Min(QuantizedNodes.Count - 1, losses.Length - 1)];
            return new AccuracyMeasurement("scripted", 0.5, 0.5 - loss, 1);
        }
    }
}
