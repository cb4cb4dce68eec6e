using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>One weight tensor as quantized, with its error.</summary>
public sealed record WeightQuantization(string Node, string OpType, string Weight, int Channels, bool PerChannel, double SqnrDb);

/// <summary>
/// Writes the QDQ model: every planned activation tensor gets QuantizeLinear then DequantizeLinear (all its readers
/// read the dequantized value, so the producer's only consumer is the QuantizeLinear and ONNX Runtime can fuse it),
/// weights become int8 initializers with a DequantizeLinear (per output channel or per tensor, symmetric), biases
/// int32 with scale input scale x weight scale, and float constants read by quantized Add/Mul/Concat 8-bit
/// initializers. Inserted names are derived from the tensor names only, so the same inputs give the same bytes.
/// </summary>
public static class QdqModelBuilder
{
    public static (ModelProto Model, IReadOnlyList<WeightQuantization> Weights) Build(
        ModelProto prepared, QuantizationPlan plan, IReadOnlyDictionary<string, TensorRange> ranges, QuantizedType activationType, bool perChannel)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(ranges);
        var model = prepared.Clone();
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var existingNames = graph.Node.SelectMany(node => node.Output).Concat(graph.Input.Select(input => input.Name)).Concat(initializers.Keys)
            .ToHashSet(StringComparer.Ordinal);

        // Activation parameters, in graph order so that a pass-through output finds its source already decided.
        var parameters = new Dictionary<string, QuantizationParameters>(StringComparer.Ordinal);
        foreach (var tensor in plan.QdqTensors)
        {
            if (plan.SharedScaleSource.TryGetValue(tensor, out var source) && parameters.TryGetValue(source, out var sourceParameters))
            {
                parameters[tensor] = sourceParameters;
                continue;
            }

            if (!ranges.TryGetValue(tensor, out var range))
            {
                throw new QuantizationException($"No calibration range for tensor '{tensor}'; the calibration did not observe it.");
            }

            parameters[tensor] = QuantizationParameters.ForRange(range.Min, range.Max, activationType);
        }

        var newInitializers = new List<TensorProto>();
        var nodes = new List<NodeProto>();
        var weights = new List<WeightQuantization>();
        var quantizedConstants = new Dictionary<string, string>(StringComparer.Ordinal);

        string Fresh(string name)
        {
            if (!existingNames.Add(name))
            {
                throw new QuantizationException($"The model already has a value named '{name}', which the quantizer needs for a value it inserts.");
            }

            return name;
        }

        void AddQdq(string tensor)
        {
            var p = parameters[tensor];
            var scale = Fresh(tensor + "_scale");
            var zeroPoint = Fresh(tensor + "_zero_point");
            newInitializers.Add(OnnxTensors.Float(scale, [], [p.Scale]));
            newInitializers.Add(OnnxTensors.EightBit(zeroPoint, [], p.Type, [unchecked((byte)p.ZeroPoint)]));
            var quantized = Fresh(tensor + "_quantized");
            var dequantized = Fresh(tensor + "_dequantized");
            nodes.Add(Node("QuantizeLinear", tensor + "_QuantizeLinear", [tensor, scale, zeroPoint], quantized));
            nodes.Add(Node("DequantizeLinear", tensor + "_DequantizeLinear", [quantized, scale, zeroPoint], dequantized));
        }

        var qdqSet = plan.QdqTensors.ToHashSet(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(input => qdqSet.Contains(input.Name)))
        {
            AddQdq(input.Name);
        }

        foreach (var node in graph.Node)
        {
            var isQuantized = plan.QuantizedNodes.Contains(node.Name);
            for (var i = 0; i < node.Input.Count; i++)
            {
                var input = node.Input[i];
                if (qdqSet.Contains(input))
                {
                    node.Input[i] = input + "_dequantized";
                }
            }

            if ((isQuantized || plan.WeightOnlyNodes.Contains(node.Name)) && QuantizationPlan.WeightedOpTypes.Contains(node.OpType))
            {
                QuantizeWeights(node);
            }
            else if (isQuantized && node.OpType is "Add" or "Mul" or "Concat")
            {
                for (var i = 0; i < node.Input.Count; i++)
                {
                    if (initializers.TryGetValue(node.Input[i], out var constant) && constant.DataType == (int)TensorProto.Types.DataType.Float)
                    {
                        node.Input[i] = QuantizeConstant(constant);
                    }
                }
            }

            nodes.Add(node);
            foreach (var output in node.Output)
            {
                if (qdqSet.Contains(output))
                {
                    AddQdq(output);
                }
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(nodes);

        // Initializers that no node reads any more (the float weights) go; the order of the rest is kept.
        var read = nodes.SelectMany(node => node.Input).ToHashSet(StringComparer.Ordinal);
        var kept = graph.Initializer.Where(tensor => read.Contains(tensor.Name)).Concat(newInitializers).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);

        // Shapes recorded for the float graph name values that no longer exist or changed type; the runtime infers them again.
        graph.ValueInfo.Clear();
        return (model, weights);

        string QuantizeConstant(TensorProto constant)
        {
            if (quantizedConstants.TryGetValue(constant.Name, out var done))
            {
                return done;
            }

            var values = OnnxTensors.ReadFloats(constant);
            var p = QuantizationParameters.ForRange(values.Min(), values.Max(), activationType);
            var bytes = new byte[values.Length];
            p.Quantize(values, bytes);
            var quantized = Fresh(constant.Name + "_quantized");
            var scale = Fresh(constant.Name + "_scale");
            var zeroPoint = Fresh(constant.Name + "_zero_point");
            var dequantized = Fresh(constant.Name + "_dequantized");
            newInitializers.Add(OnnxTensors.EightBit(quantized, [.. constant.Dims], p.Type, bytes));
            newInitializers.Add(OnnxTensors.Float(scale, [], [p.Scale]));
            newInitializers.Add(OnnxTensors.EightBit(zeroPoint, [], p.Type, [unchecked((byte)p.ZeroPoint)]));
            nodes.Add(Node("DequantizeLinear", constant.Name + "_DequantizeLinear", [quantized, scale, zeroPoint], dequantized));
            quantizedConstants[constant.Name] = dequantized;
            return dequantized;
        }

        void QuantizeWeights(NodeProto node)
        {
            var weightIndex = 1;
            if (node.Input.Count <= weightIndex || !initializers.TryGetValue(node.Input[weightIndex], out var weight)
                || weight.DataType != (int)TensorProto.Types.DataType.Float)
            {
                // MatMul of two activations: both inputs already carry QDQ pairs.
                return;
            }

            var dims = weight.Dims.ToArray();
            int axis = node.OpType switch
            {
                "Conv" => 0,
                "Gemm" => node.Attribute.FirstOrDefault(attribute => attribute.Name == "transB")?.I == 1 ? 0 : 1,
                _ => dims.Length - 1,
            };
            if (dims.Length < 2)
            {
                axis = 0;
            }

            var values = OnnxTensors.ReadFloats(weight);
            var channels = dims.Length == 0 ? 1 : (int)dims[axis];
            var channelScales = perChannel && dims.Length >= 2 ? ChannelScales(values, dims, axis) : [QuantizationParameters.SymmetricInt8(MaxAbs(values)).Scale];
            var quantized = new byte[values.Length];
            double signal = 0, noise = 0;
            var inner = dims.Skip(axis + 1).Aggregate(1L, (product, dimension) => product * dimension);
            for (var i = 0; i < values.Length; i++)
            {
                var channel = channelScales.Length == 1 ? 0 : (int)(i / inner % channels);
                var p = new QuantizationParameters(channelScales[channel], 0, QuantizedType.Int8);
                var q = Math.Clamp(p.Quantize(values[i]), -127, 127);
                quantized[i] = unchecked((byte)(sbyte)q);
                var error = values[i] - p.Dequantize(q);
                signal += (double)values[i] * values[i];
                noise += (double)error * error;
            }

            var name = weight.Name;
            var quantizedName = Fresh(name + "_quantized");
            var scaleName = Fresh(name + "_scale");
            var zeroPointName = Fresh(name + "_zero_point");
            var dequantizedName = Fresh(name + "_dequantized");
            long[] scaleDims = channelScales.Length == 1 ? [] : [channelScales.Length];
            newInitializers.Add(OnnxTensors.EightBit(quantizedName, dims, QuantizedType.Int8, quantized));
            newInitializers.Add(OnnxTensors.Float(scaleName, scaleDims, channelScales));
            newInitializers.Add(OnnxTensors.EightBit(zeroPointName, scaleDims, QuantizedType.Int8, new byte[channelScales.Length]));
            var dequantize = Node("DequantizeLinear", name + "_DequantizeLinear", [quantizedName, scaleName, zeroPointName], dequantizedName);
            if (channelScales.Length > 1)
            {
                dequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis });
            }

            nodes.Add(dequantize);
            node.Input[weightIndex] = dequantizedName;
            weights.Add(new WeightQuantization(node.Name, node.OpType, name, channelScales.Length, channelScales.Length > 1, Sqnr(signal, noise)));

            // Bias: int32 at scale input x weight, so the integer kernel adds it to its accumulator directly.
            var biasIndex = 2;
            var activationInput = node.Input[0];
            if (node.Input.Count > biasIndex && initializers.TryGetValue(node.Input[biasIndex], out var bias) && bias.DataType == (int)TensorProto.Types.DataType.Float
                && activationInput.EndsWith("_dequantized", StringComparison.Ordinal)
                && parameters.TryGetValue(activationInput[..^"_dequantized".Length], out var inputParameters)
                && (node.OpType == "Conv" || (node.OpType == "Gemm" && bias.Dims.Count <= 1)))
            {
                var outputs = node.OpType == "Conv" ? (int)dims[0] : (int)dims[axis];
                var biasValues = OnnxTensors.ReadFloats(bias);
                if (biasValues.Length != outputs && biasValues.Length != 1)
                {
                    return;
                }

                var biasScales = new float[outputs];
                var biasQuantized = new int[outputs];
                for (var c = 0; c < outputs; c++)
                {
                    biasScales[c] = inputParameters.Scale * channelScales[channelScales.Length == 1 ? 0 : c];
                    var value = biasValues.Length == 1 ? biasValues[0] : biasValues[c];
                    biasQuantized[c] = (int)Math.Clamp(Math.Round(value / (double)biasScales[c], MidpointRounding.ToEven), int.MinValue + 1, int.MaxValue);
                }

                var biasName = bias.Name;
                var biasQuantizedName = Fresh($"{biasName}_{node.Name}_quantized");
                var biasScaleName = Fresh($"{biasName}_{node.Name}_scale");
                var biasZeroPointName = Fresh($"{biasName}_{node.Name}_zero_point");
                var biasDequantizedName = Fresh($"{biasName}_{node.Name}_dequantized");
                newInitializers.Add(OnnxTensors.Int32(biasQuantizedName, [outputs], biasQuantized));
                newInitializers.Add(OnnxTensors.Float(biasScaleName, [outputs], biasScales));
                newInitializers.Add(OnnxTensors.Int32(biasZeroPointName, [outputs], new int[outputs]));
                var biasDequantize = Node("DequantizeLinear", $"{biasName}_{node.Name}_DequantizeLinear", [biasQuantizedName, biasScaleName, biasZeroPointName], biasDequantizedName);
                biasDequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
                nodes.Add(biasDequantize);
                node.Input[biasIndex] = biasDequantizedName;
            }
        }
    }

    /// <summary>Signal-to-quantization-noise ratio in dB (capped at 200 for an exact copy).</summary>
    public static double Sqnr(double signal, double noise) =>
        noise <= 0 ? 200 : signal <= 0 ? 0 : Math.Min(200, 10 * Math.Log10(signal / noise));

    private static float[] ChannelScales(float[] values, long[] dims, int axis)
    {
        var channels = (int)dims[axis];
        var inner = dims.Skip(axis + 1).Aggregate(1L, (product, dimension) => product * dimension);
        var maxima = new float[channels];
        for (var i = 0; i < values.Length; i++)
        {
            var channel = (int)(i / inner % channels);
            maxima[channel] = MathF.Max(maxima[channel], MathF.Abs(values[i]));
        }

        return [.. maxima.Select(max => QuantizationParameters.SymmetricInt8(max).Scale)];
    }

    private static float MaxAbs(float[] values) => values.Length == 0 ? 0f : values.Max(value => MathF.Abs(value));

    private static NodeProto Node(string opType, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }
}
