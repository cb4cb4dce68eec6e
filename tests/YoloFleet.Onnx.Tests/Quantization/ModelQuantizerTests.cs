using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

public sealed class ModelQuantizerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-quant-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static InMemoryCalibrationSet Calibration() => new(SyntheticModels.Inputs(12), "synthetic");

    private static QuantizationResult Quantize(ModelProto model, QuantizerOptions? options = null) =>
        ModelQuantizer.Quantize(model, Calibration(), options ?? new QuantizerOptions { ComparisonSamples = 4 });

    [Theory]
    [InlineData(CalibrationMethod.MinMax)]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.Entropy)]
    public void The_quantized_model_loads_in_onnx_runtime_and_its_outputs_stay_close_to_fp32(CalibrationMethod method)
    {
        var fp32 = SyntheticModels.ConvBlock();

        var result = Quantize(fp32, new QuantizerOptions { Method = method, ComparisonSamples = 4, QuantizeDecodeTail = true });

        foreach (var input in SyntheticModels.Inputs(3, seed: 99))
        {
            var expected = SyntheticModels.Run(fp32, input)["scores"];
            var actual = SyntheticModels.Run(result.Model, input)["scores"];
            var cosine = SyntheticModels.Cosine(expected, actual);
            Assert.True(cosine >= 0.99, $"{method}: output cosine {cosine:F5} < 0.99");
        }

        Assert.All(result.Report.Outputs, output => Assert.True(output.Cosine >= 0.99, $"report says {output.Cosine}"));
    }

    [Fact]
    public void Every_tensor_between_integer_kernels_is_quantized_and_onnx_runtime_fuses_them()
    {
        var result = Quantize(SyntheticModels.ConvBlock(), new QuantizerOptions { ComparisonSamples = 2, QuantizeDecodeTail = true });
        var model = result.Model;

        // Weights: int8 per output channel with a DequantizeLinear on axis 0; bias int32.
        var weight = model.Graph.Initializer.Single(tensor => tensor.Name == "stem.weight_quantized");
        Assert.Equal((int)TensorProto.Types.DataType.Int8, weight.DataType);
        Assert.Equal([8L], model.Graph.Initializer.Single(tensor => tensor.Name == "stem.weight_scale").Dims);
        Assert.Equal((int)TensorProto.Types.DataType.Int32, model.Graph.Initializer.Single(tensor => tensor.Name == "stem.bias_stem_quantized").DataType);
        Assert.DoesNotContain(model.Graph.Initializer, tensor => tensor.Name == "stem.weight");
        // Activations: uint8 by default; the hard-swish division became a multiplication that is quantized too.
        Assert.Equal((int)TensorProto.Types.DataType.Uint8, model.Graph.Initializer.Single(tensor => tensor.Name == "silu_out_zero_point").DataType);
        Assert.Contains(model.Graph.Node, node => node.Name == "hs_div" && node.OpType == "Mul");
        // MaxPool passes 8-bit values through: its output shares the input's scale.
        Assert.Equal(
            model.Graph.Initializer.Single(tensor => tensor.Name == "res_out_scale").RawData,
            model.Graph.Initializer.Single(tensor => tensor.Name == "pool_out_scale").RawData);

        var optimized = Path.Combine(_folder, "optimized.onnx");
        using (var options = new SessionOptions { OptimizedModelFilePath = optimized, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED })
        using (new InferenceSession(model.ToByteArray(), options))
        {
        }

        var fused = OnnxModelFile.Load(optimized).Graph.Node.Select(node => node.OpType).ToList();
        Assert.Equal(4, fused.Count(op => op == "QLinearConv"));
        Assert.Contains("QLinearSigmoid", fused);
        Assert.Contains("QLinearMul", fused);
        Assert.Contains("QLinearAdd", fused);
        Assert.DoesNotContain("Conv", fused);
    }

    [Fact]
    public void Excluded_nodes_and_op_types_stay_in_fp32_with_the_reason_reported()
    {
        var options = new QuantizerOptions { ComparisonSamples = 2, ExcludeNodes = ["depthwise"], ExcludeOpTypes = ["Sigmoid"], QuantizeDecodeTail = true };

        var result = Quantize(SyntheticModels.ConvBlock(), options);
        var graph = result.Model.Graph;

        var depthwise = graph.Node.Single(node => node.Name == "depthwise");
        Assert.Equal("depthwise.weight", depthwise.Input[1]);
        Assert.Contains(graph.Initializer, tensor => tensor.Name == "depthwise.weight" && tensor.DataType == (int)TensorProto.Types.DataType.Float);
        Assert.DoesNotContain(graph.Node, node => node.Name == "dw_out_QuantizeLinear");
        Assert.DoesNotContain(graph.Node, node => node.Name is "stem_gate_QuantizeLinear" or "scores_QuantizeLinear");
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "depthwise" && node.Reason == "excluded by name");
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "stem_sigmoid" && node.Reason.Contains("Sigmoid", StringComparison.Ordinal));
        // The rest is still quantized.
        Assert.Contains(graph.Node, node => node.Name == "stem.weight_DequantizeLinear");
    }

    [Fact]
    public void The_decode_tail_stays_fp32_unless_asked()
    {
        var result = Quantize(SyntheticModels.ConvBlock());

        Assert.Contains(result.Report.FloatNodes, node => node.Name == "head" && node.Reason.StartsWith("decode tail", StringComparison.Ordinal));
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "head_sigmoid");
        Assert.Equal("head.weight", result.Model.Graph.Node.Single(node => node.Name == "head").Input[1]);
    }

    [Fact]
    public void An_unknown_excluded_node_is_named_in_the_error()
    {
        var exception = Assert.Throws<QuantizationException>(() => Quantize(SyntheticModels.ConvBlock(), new QuantizerOptions { ExcludeNodes = ["Conv_999"] }));

        Assert.Contains("Conv_999", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quantizing_twice_gives_byte_identical_models()
    {
        var first = Quantize(SyntheticModels.ConvBlock()).Model.ToByteArray();
        var second = Quantize(SyntheticModels.ConvBlock()).Model.ToByteArray();

        Assert.Equal(first, second);
    }

    [Fact]
    public void An_opset_11_model_is_raised_to_13_and_its_split_attribute_becomes_an_input()
    {
        var model = SyntheticModels.ConvBlock(opset: 11);
        var split = SyntheticModels.Node("Split", "split", ["scores"], ["scores_a", "scores_b"]);
        split.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var sizes = new AttributeProto { Name = "split", Type = AttributeProto.Types.AttributeType.Ints };
        sizes.Ints.AddRange([1, 3]);
        split.Attribute.Add(sizes);
        model.Graph.Node.Add(split);
        model.Graph.Output.Clear();
        model.Graph.Output.Add(SyntheticModels.ValueInfo("scores_a", 1, 1, 8, 8));
        model.Graph.Output.Add(SyntheticModels.ValueInfo("scores_b", 1, 3, 8, 8));
        var input = SyntheticModels.Inputs(1, seed: 5)[0];
        var expected = SyntheticModels.Run(model, input);

        var prepared = model.Clone();
        var changes = ModelPreparation.Prepare(prepared);

        Assert.Contains(changes, change => change.Contains("from 11 to 13", StringComparison.Ordinal));
        Assert.Equal(13, prepared.OpsetImport.Single().Version);
        var converted = prepared.Graph.Node.Single(node => node.Name == "split");
        Assert.Equal(2, converted.Input.Count);
        Assert.DoesNotContain(converted.Attribute, attribute => attribute.Name == "split");
        var actual = SyntheticModels.Run(prepared, input);
        foreach (var name in new[] { "scores_a", "scores_b" })
        {
            Assert.Equal(expected[name].Length, actual[name].Length);
            Assert.True(expected[name].Zip(actual[name], (a, b) => MathF.Abs(a - b)).Max() < 1e-5f);
        }

        // The quantizer takes it from there.
        Assert.True(Quantize(model).Report.QuantizedNodes > 0);
    }

    [Fact]
    public void An_already_quantized_model_is_refused_with_a_clear_error()
    {
        var quantized = Quantize(SyntheticModels.ConvBlock()).Model;

        var exception = Assert.Throws<QuantizationException>(() => Quantize(quantized));

        Assert.Contains("already quantized", exception.Message, StringComparison.Ordinal);
        Assert.Contains("QuantizeLinear", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_weighted_layers_or_with_an_integer_input_is_refused()
    {
        var identity = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "id" } };
        identity.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        identity.Graph.Input.Add(SyntheticModels.ValueInfo("x", 1, 4));
        identity.Graph.Output.Add(SyntheticModels.ValueInfo("y", 1, 4));
        identity.Graph.Node.Add(SyntheticModels.Node("Relu", "relu", ["x"], ["y"]));
        var nothing = Assert.Throws<QuantizationException>(() => ModelPreparation.CheckQuantizable(identity));
        Assert.Contains("nothing to quantize", nothing.Message, StringComparison.Ordinal);

        var integerInput = SyntheticModels.ConvBlock();
        integerInput.Graph.Input[0].Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Int64;
        var notFloat = Assert.Throws<QuantizationException>(() => ModelPreparation.CheckQuantizable(integerInput));
        Assert.Contains("INT64", notFloat.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_model_file_is_refused_with_its_path()
    {
        var path = Path.Combine(_folder, "corrupt.onnx");
        var bytes = SyntheticModels.ConvBlock().ToByteArray();
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);

        var exception = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dead_zones_narrow_ranges_only_where_the_readers_cannot_tell_values_apart()
    {
        var prepared = SyntheticModels.ConvBlock();
        ModelPreparation.Prepare(prepared);
        var ranges = new Dictionary<string, TensorRange>(StringComparer.Ordinal)
        {
            ["stem_out"] = new(-50f, 20f),    // read by SiLU only
            ["pw_out"] = new(-40f, 30f),      // read by hard-swish only (x + 3)
            ["hs_shift"] = new(-37f, 33f),    // read by Clip(0, 6) only
            ["res_out"] = new(-5f, 9f),       // read by MaxPool: left alone
        };

        var changed = DeadZoneClipping.Apply(prepared.Graph, ranges);

        Assert.Equal(3, changed);
        Assert.Equal(new TensorRange(DeadZoneClipping.SiluLowerBound, 20f), ranges["stem_out"]);
        Assert.Equal(new TensorRange(-3f, 30f), ranges["pw_out"]);
        Assert.Equal(new TensorRange(0f, 6f), ranges["hs_shift"]);
        Assert.Equal(new TensorRange(-5f, 9f), ranges["res_out"]);
    }

    [Fact]
    public void The_report_lists_weights_activations_and_fp32_nodes_in_json_and_as_a_table()
    {
        var report = Quantize(SyntheticModels.ConvBlock()).Report;
        report.FileBytes = new BeforeAfter(1000, 300);

        using var json = System.Text.Json.JsonDocument.Parse(report.ToJson());
        var root = json.RootElement;
        Assert.Equal("percentile", root.GetProperty("method").GetString());
        Assert.Equal("uint8", root.GetProperty("activationType").GetString());
        Assert.Equal(3, root.GetProperty("weights").GetArrayLength());
        Assert.True(root.GetProperty("activations").EnumerateArray().All(activation => activation.TryGetProperty("min", out _)));
        Assert.Contains(root.GetProperty("floatNodes").EnumerateArray(), node => node.GetProperty("name").GetString() == "head");
        Assert.True(root.GetProperty("weights")[0].GetProperty("sqnrDb").GetDouble() > 30);
        var table = report.ToTable();
        Assert.Contains("file bytes", table, StringComparison.Ordinal);
        Assert.Contains("0.300", table, StringComparison.Ordinal);
        Assert.Contains("decode tail", table, StringComparison.Ordinal);
    }
}
