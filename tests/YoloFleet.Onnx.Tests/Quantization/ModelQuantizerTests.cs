using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

public sealed class ModelQuantizerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-quant-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static NodeProto Producer(GraphProto graph, string tensor) => graph.Node.Single(node => node.Output.Contains(tensor));

    // The quantizer renames intermediate tensors, so a tensor is found through the node (kept names) that makes it.
    private static NodeProto QuantizeOf(GraphProto graph, string producer) =>
        graph.Node.Single(node => node.OpType == "QuantizeLinear" && node.Input[0] == graph.Node.Single(candidate => candidate.Name == producer).Output[0]);

    private static bool IsQuantized(GraphProto graph, string producer) =>
        graph.Node.Any(node => node.OpType == "QuantizeLinear" && node.Input[0] == graph.Node.Single(candidate => candidate.Name == producer).Output[0]);

    private static TensorProto Initializer(GraphProto graph, string name) => graph.Initializer.Single(tensor => tensor.Name == name);

    private static void Rename(GraphProto graph, string from, string to)
    {
        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                node.Input[i] = node.Input[i] == from ? to : node.Input[i];
            }

            for (var i = 0; i < node.Output.Count; i++)
            {
                node.Output[i] = node.Output[i] == from ? to : node.Output[i];
            }
        }
    }

    private static InMemoryCalibrationSet Calibration() => new(SyntheticModels.Inputs(12), "synthetic");

    private static QuantizationResult Quantize(ModelProto model, QuantizerOptions? options = null) =>
        ModelQuantizer.Quantize(model, Calibration(), options ?? new QuantizerOptions { AutoExclude = false, ComparisonSamples = 4 });

    [Theory]
    [InlineData(CalibrationMethod.MinMax)]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.Entropy)]
    public void The_quantized_model_loads_in_onnx_runtime_and_its_outputs_stay_close_to_fp32(CalibrationMethod method)
    {
        var fp32 = SyntheticModels.ConvBlock();

        var result = Quantize(fp32, new QuantizerOptions { AutoExclude = false, Method = method, ComparisonSamples = 4, QuantizeDecodeTail = true });

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
        var result = Quantize(SyntheticModels.ConvBlock(), new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2, QuantizeDecodeTail = true });
        var model = result.Model;

        var graph = model.Graph;

        // Weights: int8 per output channel with a DequantizeLinear on axis 0 and no zero point (0 is the default); bias int32.
        var stem = graph.Node.Single(node => node.Name == "stem");
        var weightDequantize = Producer(graph, stem.Input[1]);
        Assert.Equal("DequantizeLinear", weightDequantize.OpType);
        Assert.Equal(2, weightDequantize.Input.Count);
        Assert.Equal((int)TensorProto.Types.DataType.Int8, Initializer(graph, weightDequantize.Input[0]).DataType);
        Assert.Equal([8L], Initializer(graph, weightDequantize.Input[1]).Dims);
        var biasDequantize = Producer(graph, stem.Input[2]);
        Assert.Equal(2, biasDequantize.Input.Count);
        Assert.Equal((int)TensorProto.Types.DataType.Int32, Initializer(graph, biasDequantize.Input[0]).DataType);
        Assert.DoesNotContain(graph.Initializer, tensor => tensor.Name == "stem.weight");
        // Activations: uint8 by default.
        Assert.Equal((int)TensorProto.Types.DataType.Uint8, Initializer(graph, QuantizeOf(graph, "stem_silu").Input[2]).DataType);

        // The hard-swish division became a multiplication by 1/6, which is folded into a scale: no node is left, and
        // the Concat reads hs_mul's 8-bit values dequantized with a sixth of their scale and the same zero point.
        Assert.DoesNotContain(graph.Node, node => node.Name == "hs_div");
        var product = QuantizeOf(graph, "hs_mul");
        var concatInput = Producer(graph, graph.Node.Single(node => node.Name == "concat").Input[0]);
        Assert.Equal("DequantizeLinear", concatInput.OpType);
        Assert.Equal(product.Output[0], concatInput.Input[0]);
        Assert.Equal(product.Input[2], concatInput.Input[2]);
        var productScale = OnnxTensors.ReadFloats(Initializer(graph, product.Input[1]))[0];
        Assert.Equal(productScale * (1f / 6f), OnnxTensors.ReadFloats(Initializer(graph, concatInput.Input[1]))[0], 1e-6f * productScale);
        Assert.Equal(1, graph.Node.Count(node => node.OpType == "DequantizeLinear" && node.Input[0] == product.Output[0]));
        // MaxPool passes 8-bit values through: its output shares the input's scale (the same initializer).
        Assert.Equal(QuantizeOf(graph, "residual").Input[1], QuantizeOf(graph, "pool").Input[1]);

        var optimized = Path.Combine(_folder, "optimized.onnx");
        using (var options = new SessionOptions { OptimizedModelFilePath = optimized, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED })
        using (new InferenceSession(model.ToByteArray(), options))
        {
        }

        var fused = OnnxModelFile.Load(optimized).Graph.Node.Select(node => node.OpType).ToList();
        // Weight and bias DequantizeLinear without a zero point still fuse.
        Assert.Equal(4, fused.Count(op => op == "QLinearConv"));
        Assert.Contains("QLinearSigmoid", fused);
        // SiLU's and hard-swish's products; the Mul by 1/6 runs no kernel.
        Assert.Equal(2, fused.Count(op => op == "QLinearMul"));
        Assert.Contains("QLinearAdd", fused);
        Assert.DoesNotContain("Conv", fused);
    }

    [Fact]
    public void Float_kernels_on_int8_weights_broadcast_their_scales_along_the_gemm_and_matmul_channel_axes()
    {
        // Two heads on one input, both in the decode tail (no weighted op after them), so both compute in float on
        // int8 weights: a Gemm with transB (weight [3, 8], one scale per row: [3, 1]) and a MatMul (weight [8, 3],
        // one scale per column: [1, 3]).
        var random = new Random(5);
        float[] Values(int count) => [.. Enumerable.Range(0, count).Select(_ => random.NextSingle() * 2 - 1)];
        var graph = new GraphProto { Name = "dense" };
        graph.Input.Add(SyntheticModels.ValueInfo("input", 1, 8));
        graph.Output.Add(SyntheticModels.ValueInfo("rows", 1, 3));
        graph.Output.Add(SyntheticModels.ValueInfo("columns", 1, 3));
        graph.Initializer.Add(OnnxTensors.Float("fc.weight", [3, 8], Values(24)));
        graph.Initializer.Add(OnnxTensors.Float("fc.bias", [3], Values(3)));
        graph.Initializer.Add(OnnxTensors.Float("proj.weight", [8, 3], Values(24)));
        var gemm = SyntheticModels.Node("Gemm", "fc", ["input", "fc.weight", "fc.bias"], ["rows"]);
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(gemm);
        graph.Node.Add(SyntheticModels.Node("MatMul", "proj", ["input", "proj.weight"], ["columns"]));
        var fp32 = new ModelProto { IrVersion = 8, ProducerName = "YoloFleet tests", Graph = graph };
        fp32.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var inputs = Enumerable.Range(0, 6).Select(seed => { var r = new Random(seed); return Enumerable.Range(0, 8).Select(_ => r.NextSingle()).ToArray(); }).ToList();

        var result = ModelQuantizer.Quantize(fp32, new InMemoryCalibrationSet(inputs, "dense"), new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2 });
        var quantized = result.Model.Graph;

        foreach (var (node, scaleDims) in new[] { ("fc", new long[] { 3, 1 }), ("proj", new long[] { 1, 3 }) })
        {
            var scale = Producer(quantized, quantized.Node.Single(candidate => candidate.Name == node).Input[1]);
            Assert.Equal("Mul", scale.OpType);
            Assert.Equal(scaleDims, Initializer(quantized, scale.Input[1]).Dims);
            Assert.Equal("Cast", Producer(quantized, scale.Input[0]).OpType);
        }

        // The same function as FP32, to within int8 weight rounding, for every input.
        foreach (var input in inputs)
        {
            var expected = SyntheticModels.Run(fp32, input);
            var actual = SyntheticModels.Run(result.Model, input);
            foreach (var output in new[] { "rows", "columns" })
            {
                var cosine = SyntheticModels.Cosine(expected[output], actual[output]);
                Assert.True(cosine >= 0.999, $"{output}: cosine {cosine:F5}");
            }
        }
    }

    [Fact]
    public void Auto_exclusion_ranks_layers_by_sensitivity_and_keeps_the_worst_in_fp32_up_to_the_cap()
    {
        // A target no model reaches, so the cap decides; no plateau stop.
        var options = new QuantizerOptions { ComparisonSamples = 2, AutoExclude = true, TargetCosine = 1, MaxAutoExcluded = 2, PlateauWindow = 0 };

        var result = Quantize(SyntheticModels.ConvBlock(), options);
        var report = result.Report;

        Assert.NotEmpty(report.Sensitivity);
        Assert.Equal(report.Sensitivity.OrderBy(layer => layer.Cosine).Select(layer => layer.Node), report.Sensitivity.Select(layer => layer.Node));
        Assert.Equal(report.Sensitivity.Take(2).Select(layer => layer.Node), report.AutoExcluded);
        Assert.All(report.AutoExcluded, name => Assert.Contains(report.FloatNodes, node => node.Name == name && node.Reason.StartsWith("auto-excluded", StringComparison.Ordinal)));
    }

    [Fact]
    public void Auto_exclusion_stops_when_more_fp32_layers_stop_helping_and_keeps_the_best_count()
    {
        var lines = new List<string>();

        // Any gain under 1.0 over one more layer counts as a plateau: at most one layer stays in FP32.
        var options = new QuantizerOptions { ComparisonSamples = 2, AutoExclude = true, TargetCosine = 1, MaxAutoExcluded = 5, PlateauWindow = 1, PlateauGain = 1 };
        var result = ModelQuantizer.Quantize(SyntheticModels.ConvBlock(), Calibration(), options, lines.Add);

        Assert.InRange(result.Report.AutoExcluded.Count, 0, 1);
        Assert.Contains(lines, line => line.Contains("raised the cosine by", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.StartsWith("auto-exclude: 2 layer(s)", StringComparison.Ordinal));
    }

    [Fact]
    public void Excluded_nodes_and_op_types_stay_in_fp32_with_the_reason_reported()
    {
        var options = new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2, ExcludeNodes = ["depthwise"], ExcludeOpTypes = ["Sigmoid"], QuantizeDecodeTail = true };

        var result = Quantize(SyntheticModels.ConvBlock(), options);
        var graph = result.Model.Graph;

        var depthwise = graph.Node.Single(node => node.Name == "depthwise");
        Assert.Equal("depthwise.weight", depthwise.Input[1]);
        Assert.Contains(graph.Initializer, tensor => tensor.Name == "depthwise.weight" && tensor.DataType == (int)TensorProto.Types.DataType.Float);
        Assert.False(IsQuantized(graph, "depthwise"));
        Assert.False(IsQuantized(graph, "stem_sigmoid"));
        Assert.False(IsQuantized(graph, "head_sigmoid"));
        Assert.True(IsQuantized(graph, "stem_silu"));
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "depthwise" && node.Reason == "excluded by name");
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "stem_sigmoid" && node.Reason.Contains("Sigmoid", StringComparison.Ordinal));
        // The rest is still quantized.
        Assert.Equal("DequantizeLinear", Producer(graph, graph.Node.Single(node => node.Name == "stem").Input[1]).OpType);
    }

    [Fact]
    public void The_decode_tail_stays_fp32_unless_asked()
    {
        var result = Quantize(SyntheticModels.ConvBlock(), new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2, TailWeightsInt8 = false });

        Assert.Contains(result.Report.FloatNodes, node => node.Name == "head" && node.Reason.StartsWith("decode tail", StringComparison.Ordinal));
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "head_sigmoid");
        Assert.Equal("head.weight", result.Model.Graph.Node.Single(node => node.Name == "head").Input[1]);
        Assert.False(IsQuantized(result.Model.Graph, "head"));
    }

    [Fact]
    public void The_decode_tail_stores_int8_weights_by_default_and_still_computes_in_fp32()
    {
        var result = Quantize(SyntheticModels.ConvBlock());
        var graph = result.Model.Graph;

        // The weight is the int8 initializer cast to float times its per-channel scales ([4, 1, 1, 1], broadcasting
        // along the output channels).
        var head = graph.Node.Single(node => node.Name == "head");
        var scale = Producer(graph, head.Input[1]);
        Assert.Equal("Mul", scale.OpType);
        Assert.Equal([4L, 1L, 1L, 1L], Initializer(graph, scale.Input[1]).Dims);
        var cast = Producer(graph, scale.Input[0]);
        Assert.Equal("Cast", cast.OpType);
        Assert.Equal((int)TensorProto.Types.DataType.Int8, Initializer(graph, cast.Input[0]).DataType);
        // Its output stays float (no QuantizeLinear reads it) and so does its bias: the runtime runs a float Conv on
        // dequantized weights.
        Assert.False(IsQuantized(graph, "head"));
        Assert.Equal("head.bias", head.Input[2]);

        // ONNX Runtime folds Cast and Mul into a constant float weight when the session loads (a DequantizeLinear it
        // would keep), so the float Conv keeps its fast paths.
        var optimized = Path.Combine(_folder, "tail-optimized.onnx");
        using (var options = new SessionOptions { OptimizedModelFilePath = optimized, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED })
        using (new InferenceSession(result.Model.ToByteArray(), options))
        {
        }

        var fused = OnnxModelFile.Load(optimized).Graph;
        Assert.DoesNotContain(fused.Node, node => node.OpType == "Cast");
        var floatHead = fused.Node.Single(node => node.OpType is "Conv" or "FusedConv");
        Assert.Contains(fused.Initializer, tensor => tensor.Name == floatHead.Input[1] && tensor.DataType == (int)TensorProto.Types.DataType.Float);
        Assert.Contains(result.Report.FloatNodes, node => node.Name == "head" && node.Reason.EndsWith("(int8 weights)", StringComparison.Ordinal));
        Assert.Contains(result.Report.Weights, weight => weight.Node == "head");
        foreach (var input in SyntheticModels.Inputs(3, seed: 99))
        {
            var cosine = SyntheticModels.Cosine(SyntheticModels.Run(SyntheticModels.ConvBlock(), input)["scores"], SyntheticModels.Run(result.Model, input)["scores"]);
            Assert.True(cosine >= 0.99, $"output cosine {cosine:F5} < 0.99");
        }
    }

    [Fact]
    public void Inserted_names_are_short_unique_and_avoid_names_the_model_already_has()
    {
        // A model that already uses names of the quantizer's forms ("q0", "d0", "t0").
        var model = SyntheticModels.ConvBlock();
        Rename(model.Graph, "stem_out", "q0");
        Rename(model.Graph, "silu_out", "d0");
        Rename(model.Graph, "dw_out", "t0");
        var input = SyntheticModels.Inputs(1, seed: 3)[0];
        var fp32Scores = SyntheticModels.Run(model, input)["scores"];

        var result = Quantize(model);
        var graph = result.Model.Graph;

        var values = graph.Node.SelectMany(node => node.Output).Concat(graph.Initializer.Select(tensor => tensor.Name)).ToList();
        Assert.Equal(values.Count, values.Distinct(StringComparer.Ordinal).Count());
        Assert.All(values.Where(value => value != "scores"), value => Assert.True(value.Length <= 4 || value.Contains('.', StringComparison.Ordinal), value));
        // The model's nodes keep their names (exclusions and reports use them; hs_div, a Mul by 1/6, is folded into
        // a scale); inserted nodes have none.
        Assert.Equal(SyntheticModels.ConvBlock().Graph.Node.Select(node => node.Name).Where(name => name != "hs_div"), graph.Node.Where(node => node.Name.Length > 0).Select(node => node.Name));
        Assert.All(graph.Node.Where(node => node.OpType is "QuantizeLinear" or "DequantizeLinear"), node => Assert.Empty(node.Name));
        // Graph inputs and outputs keep their names, and the model still computes what the FP32 one does.
        Assert.Equal("input", graph.Input.Single().Name);
        Assert.Equal("scores", graph.Output.Single().Name);
        var cosine = SyntheticModels.Cosine(fp32Scores, SyntheticModels.Run(result.Model, input)["scores"]);
        Assert.True(cosine >= 0.99, $"output cosine {cosine:F5}");
        // Stable: the names do not depend on anything but the model (the byte-identity test covers the rest).
        Assert.Equal(values, Quantize(model).Model.Graph.Node.SelectMany(node => node.Output).Concat(Quantize(model).Model.Graph.Initializer.Select(tensor => tensor.Name)));
    }

    [Fact]
    public void The_int8_file_holds_little_more_than_one_byte_per_weight_and_the_per_channel_parameters()
    {
        var fp32 = SyntheticModels.ConvBlock(channels: 64);
        var weights = fp32.Graph.Initializer.Where(tensor => tensor.Name.EndsWith(".weight", StringComparison.Ordinal)).Sum(OnnxTensors.ElementCount);
        var biases = fp32.Graph.Initializer.Where(tensor => tensor.Name.EndsWith(".bias", StringComparison.Ordinal)).Sum(OnnxTensors.ElementCount);
        var floatBytes = fp32.ToByteArray().Length;

        var int8 = Quantize(fp32).Model;

        // The bound: one byte per weight; per output channel a float weight scale, an int32 bias and a float bias scale
        // (12 bytes); the FP32 graph's own records (the file less its float weights and biases); and at most 64 bytes
        // per inserted QuantizeLinear/DequantizeLinear node with its share of scalar scales and zero points. Names
        // derived from tensor names ("stem_out_DequantizeLinear", "stem.bias_stem_zero_point") broke it.
        var inserted = int8.Graph.Node.Count(node => node.OpType is "QuantizeLinear" or "DequantizeLinear");
        var bound = weights + (12 * biases) + (floatBytes - (4 * (weights + biases))) + (64 * inserted);
        var bytes = int8.ToByteArray().Length;
        Assert.True(bytes <= bound, $"INT8 file {bytes} bytes > bound {bound} ({weights} weights, {biases} channels, {inserted} Q/DQ nodes)");
    }

    [Fact]
    public void An_unknown_excluded_node_is_named_in_the_error()
    {
        var exception = Assert.Throws<QuantizationException>(() => Quantize(SyntheticModels.ConvBlock(), new QuantizerOptions { AutoExclude = false, ExcludeNodes = ["Conv_999"] }));

        Assert.Contains("Conv_999", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quantizing_twice_gives_byte_identical_models()
    {
        var options = new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2, BiasCorrection = true };
        var first = Quantize(SyntheticModels.ConvBlock(), options).Model.ToByteArray();
        var second = Quantize(SyntheticModels.ConvBlock(), options).Model.ToByteArray();

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
        Assert.Equal(4, root.GetProperty("weights").GetArrayLength());
        Assert.True(root.GetProperty("activations").EnumerateArray().All(activation => activation.TryGetProperty("min", out _)));
        Assert.Contains(root.GetProperty("floatNodes").EnumerateArray(), node => node.GetProperty("name").GetString() == "head");
        Assert.True(root.GetProperty("weights")[0].GetProperty("sqnrDb").GetDouble() > 30);
        var table = report.ToTable();
        Assert.Contains("file bytes", table, StringComparison.Ordinal);
        Assert.Contains("0.300", table, StringComparison.Ordinal);
        Assert.Contains("decode tail", table, StringComparison.Ordinal);
    }
}
