using Xunit.Abstractions;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

public sealed class BiasCorrectionTests(ITestOutputHelper output)
{
    [Fact]
    public void Bias_correction_removes_most_of_the_mean_output_error_that_coarse_weights_cause()
    {
        // One 3x3 convolution without padding (so the correction's "ignore padding" is exact) whose weights share one
        // per-tensor scale set by a single large channel: the other channels' weights round to a few levels and their
        // outputs shift by (W_q - W) . E[x], with E[x] about 0.5 for these inputs.
        var fp32 = CoarseConv();
        var calibration = new InMemoryCalibrationSet(SyntheticModels.Inputs(16), "synthetic");
        var heldOut = SyntheticModels.Inputs(4, seed: 123);
        var options = new QuantizerOptions { AutoExclude = false, PerChannel = false, QuantizeDecodeTail = true, ComparisonSamples = 2 };

        var plain = ModelQuantizer.Quantize(fp32, calibration, options).Model;
        options.BiasCorrection = true;
        var corrected = ModelQuantizer.Quantize(fp32, calibration, options);

        var before = MeanChannelShift(fp32, plain, heldOut);
        var after = MeanChannelShift(fp32, corrected.Model, heldOut);
        output.WriteLine($"mean |per-channel output shift|: {before:F5} without bias correction, {after:F5} with");
        Assert.True(before > 0.02, $"the test model's weight error should shift outputs; mean |shift| {before:F5}");
        Assert.True(after < 0.5 * before, $"mean |per-channel output shift| {before:F5} without correction, {after:F5} with");
        Assert.Contains(corrected.Report.Weights, weight => weight.Node == "conv" && weight.BiasShift > 0);
        using var json = System.Text.Json.JsonDocument.Parse(corrected.Report.ToJson());
        Assert.True(json.RootElement.GetProperty("biasCorrection").GetBoolean());
        Assert.True(json.RootElement.GetProperty("weights")[0].GetProperty("biasShift").GetDouble() > 0);
    }

    [Fact]
    public void The_shift_sums_the_weight_error_over_the_window_and_the_channels_of_each_group()
    {
        // Grouped conv: 4 outputs, 2 groups of 2 input channels, 1x2 window. errors[o, c, k] = 1 everywhere except
        // output 3, channel 1, which is 2; so output o sums 2 (window) x mean of its group's channels.
        var node = SyntheticModels.Node("Conv", "grouped", ["x", "w", "b"], ["y"]);
        node.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
        var errors = Enumerable.Repeat(1f, 4 * 2 * 2).ToArray();
        errors[(((3 * 2) + 1) * 2) + 0] = 2f;
        errors[(((3 * 2) + 1) * 2) + 1] = 2f;
        double[] means = [1, 2, 10, 20];

        var shift = BiasCorrection.OutputShift(node, [4, 2, 1, 2], errors, means);

        Assert.NotNull(shift);
        Assert.Equal([6.0, 6.0, 60.0, 100.0], shift);
        // Means that do not match the input channels: no correction rather than a wrong one.
        Assert.Null(BiasCorrection.OutputShift(node, [4, 2, 1, 2], errors, [1, 2, 3]));
    }

    [Fact]
    public void Gemm_shift_follows_transB_and_alpha_over_beta()
    {
        var gemm = SyntheticModels.Node("Gemm", "fc", ["x", "w", "b"], ["y"]);
        gemm.Attribute.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 2f });
        // W is [K=3, N=2] (transB = 0): output n sums errors[k, n] * mean[k].
        float[] errors = [1, 0, 0, 1, 1, 1];
        double[] means = [1, 2, 3];

        var shift = BiasCorrection.OutputShift(gemm, [3, 2], errors, means);

        Assert.NotNull(shift);
        Assert.Equal([2 * (1 + 3.0), 2 * (2 + 3.0)], shift);
    }

    [Fact]
    public void Channel_means_are_taken_over_batch_and_positions_per_channel()
    {
        var collector = new ChannelMeanCollector(["t"]);
        collector.Observe("t", [1, 3, 10, 30], [1, 2, 2]);
        collector.Observe("t", [5, 7, 50, 70], [1, 2, 2]);
        collector.Observe("other", [100], [1, 1]);

        var means = collector.Means();

        Assert.Equal([4.0, 40.0], means["t"]);
        Assert.False(means.ContainsKey("other"));
    }

    private static double MeanChannelShift(ModelProto fp32, ModelProto int8, float[][] inputs)
    {
        const int Channels = 8;
        var sums = new double[Channels];
        long perChannel = 0;
        foreach (var input in inputs)
        {
            var expected = SyntheticModels.Run(fp32, input)["y"];
            var actual = SyntheticModels.Run(int8, input)["y"];
            var inner = expected.Length / Channels;
            for (var i = 0; i < expected.Length; i++)
            {
                sums[i / inner] += actual[i] - expected[i];
            }

            perChannel += inner;
        }

        return sums.Average(sum => Math.Abs(sum / perChannel));
    }

    private static ModelProto CoarseConv()
    {
        var random = new Random(5);
        var graph = new GraphProto { Name = "coarse" };
        graph.Input.Add(SyntheticModels.ValueInfo("input", 1, 3, SyntheticModels.Size, SyntheticModels.Size));
        graph.Output.Add(SyntheticModels.ValueInfo("y", 1, 8, SyntheticModels.Size - 2, SyntheticModels.Size - 2));
        var weights = new float[8 * 3 * 3 * 3];
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = (random.NextSingle() * 2 - 1) * (i < 27 ? 8f : 0.25f);
        }

        graph.Initializer.Add(OnnxTensors.Float("conv.weight", [8, 3, 3, 3], weights));
        graph.Initializer.Add(OnnxTensors.Float("conv.bias", [8], [.. Enumerable.Range(0, 8).Select(_ => random.NextSingle() - 0.5f)]));
        var conv = SyntheticModels.Node("Conv", "conv", ["input", "conv.weight", "conv.bias"], ["y"]);
        var kernel = new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints };
        kernel.Ints.AddRange([3, 3]);
        conv.Attribute.Add(kernel);
        graph.Node.Add(conv);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }
}
