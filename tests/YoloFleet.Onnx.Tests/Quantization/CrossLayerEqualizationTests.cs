using Google.Protobuf;
using Xunit.Abstractions;
using YoloFleet.Inference;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

public sealed class CrossLayerEqualizationTests(ITestOutputHelper output)
{
    [Fact]
    public void Pairs_are_convs_joined_by_nothing_or_homogeneous_ops_and_a_silu_pair_is_not_one()
    {
        var pairs = CrossLayerEqualization.FindPairs(EqualizableModel().Graph);

        Assert.Equal(
            ["stem -> depthwise via [relu]", "depthwise -> pointwise via []", "pointwise -> mid via [relu2, pool]"],
            pairs.Select(pair => $"{pair.First} -> {pair.Second} via [{string.Join(", ", pair.Between)}]"));
        Assert.All(pairs, pair => Assert.Equal(Channels, pair.Channels));
    }

    [Fact]
    public void Equalized_model_computes_the_same_output_and_balances_the_weight_ranges()
    {
        var original = EqualizableModel();
        var equalized = original.Clone();

        var summary = CrossLayerEqualization.Apply(equalized.Graph);
        output.WriteLine(summary.Describe());

        Assert.Equal(3, summary.Pairs.Count);
        Assert.True(summary.MeanRangeRatioBefore > 3, $"the test model should start unbalanced: ratio {summary.MeanRangeRatioBefore:F3}");
        Assert.True(summary.MeanRangeRatioAfter < 1.05, $"mean max/min(r1, r2) after equalization {summary.MeanRangeRatioAfter:F4}");

        // Every pair's channels end near sqrt(r1 r2) on both sides (the chain shares the depthwise and pointwise
        // convolutions between pairs, so the last sweep leaves a small residue).
        foreach (var pair in summary.Pairs)
        {
            var (r1, r2) = Ranges(equalized.Graph, pair);
            var worst = r1.Zip(r2, (a, b) => Math.Max(a, b) / Math.Min(a, b)).Max();
            output.WriteLine($"{pair.First} -> {pair.Second}: worst channel ratio {worst:F4}");
            Assert.True(worst < 1.2, $"{pair.First} -> {pair.Second}: worst per-channel range ratio {worst:F4}");
        }

        // The SiLU pair (mid -> head) is left alone: a scale cannot pass through x * sigmoid(x).
        Assert.Equal(Weight(original.Graph, "head.weight"), Weight(equalized.Graph, "head.weight"));

        double largestDifference = 0, largestValue = 0;
        foreach (var input in SyntheticModels.Inputs(4))
        {
            var expected = SyntheticModels.Run(original, input)["y"];
            var actual = SyntheticModels.Run(equalized, input)["y"];
            for (var i = 0; i < expected.Length; i++)
            {
                largestDifference = Math.Max(largestDifference, Math.Abs(expected[i] - actual[i]));
                largestValue = Math.Max(largestValue, Math.Abs(expected[i]));
            }
        }

        output.WriteLine($"max |FP32 - equalized FP32| = {largestDifference:E3} (max |output| {largestValue:F3})");
        Assert.True(largestValue > 0.1, "the test model's output should not be trivially small");
        Assert.True(largestDifference < 1e-4 * Math.Max(1, largestValue), $"equalization changed the output by up to {largestDifference:E3}");
    }

    [Fact]
    public void Input_channel_ranges_follow_the_group_layout_of_a_grouped_conv()
    {
        // 4 outputs, 2 groups of 2 input channels, 1x1 kernels: weight[o, c'] for o in group o / 2 reads input
        // channel (o / 2) * 2 + c'.
        float[] weights = [1, -2, 3, 0.5f, -7, 4, 0.25f, 5];

        var ranges = CrossLayerEqualization.InputChannelRanges(weights, [4, 2, 1, 1], groups: 2);

        Assert.Equal([3.0, 2.0, 7.0, 5.0], ranges);
        Assert.Equal([2.0, 3.0, 7.0, 5.0], CrossLayerEqualization.OutputChannelRanges(weights, 4));
    }

    [Fact]
    public void An_activation_that_is_also_a_graph_output_blocks_the_pair()
    {
        var model = EqualizableModel();
        // The depthwise output also becomes a graph output: rescaling it would change what the graph returns.
        model.Graph.Output.Add(SyntheticModels.ValueInfo("dw_out", 1, Channels, SyntheticModels.Size, SyntheticModels.Size));

        var pairs = CrossLayerEqualization.FindPairs(model.Graph);

        Assert.DoesNotContain(pairs, pair => pair.First == "depthwise");
        Assert.Contains(pairs, pair => pair.First == "stem");
    }

    [Fact]
    public void A_bias_that_does_not_match_the_output_channels_leaves_the_pair_alone_instead_of_failing()
    {
        var model = EqualizableModel();
        var index = model.Graph.Initializer.ToList().FindIndex(tensor => tensor.Name == "stem.bias");
        model.Graph.Initializer[index] = OnnxTensors.Float("stem.bias", [3], [1f, 2f, 3f]);

        var summary = CrossLayerEqualization.Apply(model.Graph);

        Assert.DoesNotContain(summary.Pairs, pair => pair.First == "stem");
        Assert.Equal(2, summary.Pairs.Count);
        Assert.Equal([1f, 2f, 3f], Weight(model.Graph, "stem.bias"));
    }

    [Fact]
    public void Quantizing_with_equalization_is_deterministic_and_reported()
    {
        var fp32 = EqualizableModel();
        var calibration = new InMemoryCalibrationSet(SyntheticModels.Inputs(8), "synthetic");
        var options = new QuantizerOptions { AutoExclude = false, Equalize = true, BiasCorrection = true, ComparisonSamples = 2 };

        var first = ModelQuantizer.Quantize(fp32, calibration, options);
        var second = ModelQuantizer.Quantize(fp32, calibration, options);

        Assert.Equal(first.Model.ToByteArray(), second.Model.ToByteArray());
        Assert.Equal(3, first.Report.EqualizedPairs);
        Assert.Contains(first.Report.Preparation, change => change.StartsWith("equalize: 3 Conv pair(s)", StringComparison.Ordinal));
        using var json = System.Text.Json.JsonDocument.Parse(first.Report.ToJson());
        Assert.Equal(3, json.RootElement.GetProperty("equalizedPairs").GetInt32());
        var cosine = OutputComparison.MeanCosine(first.Report.Outputs);
        output.WriteLine($"output cosine with equalization {cosine:F5}");
        Assert.True(cosine > 0.98, $"output cosine {cosine:F5}");

        // Off by default: the same model without the option carries no equalization.
        var plain = ModelQuantizer.Quantize(fp32, calibration, new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2 });
        Assert.Null(plain.Report.EqualizedPairs);
    }

    [Fact]
    public void The_shipped_models_have_the_pairs_the_doc_counts()
    {
        // docs/quantization.md: picodet_s_320 has equalizable pairs only in its squeeze-excitation blocks
        // (Conv -> Relu -> Conv on pooled 1x1 maps); yolox_nano_416 has none (SiLU after every Conv).
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, path) in new[] { ("picodet_s_320", SharedData.PicoDetS320), ("yolox_nano_416", SharedData.YoloxNano416) })
        {
            var model = OnnxModelFile.Load(path);
            ModelPreparation.Prepare(model);
            var pairs = CrossLayerEqualization.FindPairs(model.Graph);
            counts[name] = pairs.Count;
            if (name == "picodet_s_320")
            {
                // The ReLU pairs are squeeze-excitation blocks: the first Conv reads a pooled map.
                var producers = model.Graph.Node.SelectMany(node => node.Output.Select(tensor => (tensor, node.OpType)))
                    .ToDictionary(entry => entry.tensor, entry => entry.OpType, StringComparer.Ordinal);
                var squeezeInputs = pairs.Where(pair => pair.Between.Count > 0)
                    .Select(pair => producers[model.Graph.Node.First(node => node.Name == pair.First).Input[0]]).ToList();
                Assert.Equal(13, squeezeInputs.Count);
                Assert.All(squeezeInputs, opType => Assert.Equal("GlobalAveragePool", opType));
            }

            string Describe(string node) => model.Graph.Node.First(candidate => candidate.Name == node) is var found
                ? $"{node} g{found.Attribute.FirstOrDefault(attribute => attribute.Name == "group")?.I ?? 1}" : node;
            output.WriteLine($"{name}: {pairs.Count} pairs: {string.Join("; ", pairs.Select(pair =>
                $"{Describe(pair.First)} -[{string.Join(",", pair.Between.Select(node => model.Graph.Node.First(candidate => candidate.Name == node).OpType))}]-> {Describe(pair.Second)} ({pair.Channels} ch)"))}");
        }

        Assert.Equal(ExpectedPicoDetPairs, counts["picodet_s_320"]);
        Assert.Equal(0, counts["yolox_nano_416"]);
    }

    private const int Channels = 8;

    private const int ExpectedPicoDetPairs = 16;

    /// <summary>
    /// stem Conv -> Relu -> depthwise Conv -> pointwise Conv -> Relu -> MaxPool -> mid Conv -> SiLU -> head Conv, with
    /// a few channels of each Conv 8-30x larger than the rest, as batch-norm folding leaves them.
    /// </summary>
    private static ModelProto EqualizableModel()
    {
        var random = new Random(3);
        var graph = new GraphProto { Name = "equalizable" };
        graph.Input.Add(SyntheticModels.ValueInfo("input", 1, 3, SyntheticModels.Size, SyntheticModels.Size));
        graph.Output.Add(SyntheticModels.ValueInfo("y", 1, 4, SyntheticModels.Size / 2, SyntheticModels.Size / 2));
        Conv(graph, random, "stem", "input", "stem_out", 3, Channels, 3, 1);
        graph.Node.Add(SyntheticModels.Node("Relu", "relu", ["stem_out"], ["relu_out"]));
        Conv(graph, random, "depthwise", "relu_out", "dw_out", Channels, Channels, 3, Channels);
        Conv(graph, random, "pointwise", "dw_out", "pw_out", Channels, Channels, 1, 1);
        graph.Node.Add(SyntheticModels.Node("Relu", "relu2", ["pw_out"], ["relu2_out"]));
        var pool = SyntheticModels.Node("MaxPool", "pool", ["relu2_out"], ["pool_out"]);
        pool.Attribute.Add(Ints("kernel_shape", 2, 2));
        pool.Attribute.Add(Ints("strides", 2, 2));
        graph.Node.Add(pool);
        Conv(graph, random, "mid", "pool_out", "mid_out", Channels, Channels, 1, 1);
        graph.Node.Add(SyntheticModels.Node("Sigmoid", "mid_sigmoid", ["mid_out"], ["mid_gate"]));
        graph.Node.Add(SyntheticModels.Node("Mul", "mid_silu", ["mid_out", "mid_gate"], ["silu_out"]));
        Conv(graph, random, "head", "silu_out", "y", Channels, 4, 1, 1);
        var model = new ModelProto { IrVersion = 8, ProducerName = "YoloFleet tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    private static void Conv(GraphProto graph, Random random, string name, string input, string output, int inChannels, int outChannels, int kernel, int group)
    {
        var perGroup = inChannels / group;
        var window = perGroup * kernel * kernel;
        var weights = new float[outChannels * window];
        for (var i = 0; i < weights.Length; i++)
        {
            var channel = i / window;
            var magnitude = channel % 4 == 1 ? 8f + (3 * channel) : 1f;
            weights[i] = (random.NextSingle() * 2 - 1) * magnitude / MathF.Sqrt(window);
        }

        graph.Initializer.Add(OnnxTensors.Float(name + ".weight", [outChannels, perGroup, kernel, kernel], weights));
        graph.Initializer.Add(OnnxTensors.Float(name + ".bias", [outChannels], [.. Enumerable.Range(0, outChannels).Select(_ => random.NextSingle() - 0.5f)]));
        var node = SyntheticModels.Node("Conv", name, [input, name + ".weight", name + ".bias"], [output]);
        node.Attribute.Add(Ints("kernel_shape", kernel, kernel));
        node.Attribute.Add(Ints("pads", kernel / 2, kernel / 2, kernel / 2, kernel / 2));
        node.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = group });
        graph.Node.Add(node);
    }

    private static (double[] First, double[] Second) Ranges(GraphProto graph, EqualizationPair pair)
    {
        var first = graph.Node.First(node => node.Name == pair.First);
        var second = graph.Node.First(node => node.Name == pair.Second);
        var secondWeight = graph.Initializer.First(tensor => tensor.Name == second.Input[1]);
        var groups = (int)(second.Attribute.FirstOrDefault(attribute => attribute.Name == "group")?.I ?? 1);
        return (CrossLayerEqualization.OutputChannelRanges(Weight(graph, first.Input[1]), pair.Channels),
            CrossLayerEqualization.InputChannelRanges(OnnxTensors.ReadFloats(secondWeight), [.. secondWeight.Dims], groups));
    }

    private static float[] Weight(GraphProto graph, string name) => OnnxTensors.ReadFloats(graph.Initializer.First(tensor => tensor.Name == name));

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }
}
