using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>One weight tensor as quantized, with its error and, with bias correction, the mean |shift| taken off its bias.</summary>
public sealed record WeightQuantization(string Node, string OpType, string Weight, int Channels, bool PerChannel, double SqnrDb, double? BiasShift = null);

/// <summary>The QDQ model, its weights, and the name each quantized activation tensor's dequantized value has in it.</summary>
public sealed record QdqBuild(ModelProto Model, IReadOnlyList<WeightQuantization> Weights, IReadOnlyDictionary<string, string> DequantizedNames);

/// <summary>
/// Writes the QDQ model: every planned activation tensor gets QuantizeLinear then DequantizeLinear (all its readers
/// read the dequantized value, so the producer's only consumer is the QuantizeLinear and ONNX Runtime can fuse it),
/// weights become int8 initializers with a DequantizeLinear (per output channel or per tensor, symmetric), biases
/// int32 with scale input scale x weight scale, and float constants read by quantized Add/Mul/Concat 8-bit
/// initializers.
/// <para>
/// The file is kept small: inserted values get short names numbered in graph order, a kind letter and a base-62 number
/// (<c>q1A</c> quantized, <c>d1A</c> dequantized, <c>s3</c> scale, <c>z0</c> zero point, <c>w7</c>/<c>b7</c> weight and
/// bias), skipping any name the model already has; the model's own intermediate tensors are renamed the same way
/// (<c>t1A</c>; graph inputs, outputs, initializers and node names are kept); inserted nodes have no name (optional in
/// ONNX); equal activation scales and zero points share one initializer; the zero point of int8 weights and int32
/// biases, 0 and optional in DequantizeLinear, is left out. Everything is decided in graph order, so the same inputs
/// give the same bytes.
/// </para>
/// </summary>
public static class QdqModelBuilder
{
    /// <param name="inputChannelMeans">
    /// Per-input-channel means of weighted nodes' input tensors (by tensor name) for empirical bias correction: the
    /// mean output shift that weight quantization causes, (W_q - W) . E[x] per output channel, is taken off the bias
    /// before the bias is quantized. Null: no correction.
    /// </param>
    public static QdqBuild Build(
        ModelProto prepared, QuantizationPlan plan, IReadOnlyDictionary<string, TensorRange> ranges, QuantizedType activationType, bool perChannel,
        IReadOnlyDictionary<string, double[]>? inputChannelMeans = null)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(ranges);
        var model = prepared.Clone();
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var existingNames = graph.Node.SelectMany(node => node.Output).Concat(graph.Input.Select(input => input.Name)).Concat(initializers.Keys)
            .Concat(graph.Output.Select(output => output.Name)).ToHashSet(StringComparer.Ordinal);

        // Activation parameters, in graph order so that a pass-through output finds its source already decided.
        var parameters = new Dictionary<string, QuantizationParameters>(StringComparer.Ordinal);
        foreach (var tensor in plan.QdqTensors)
        {
            if (plan.SharedScaleSource.TryGetValue(tensor, out var source) && parameters.TryGetValue(source, out var sourceParameters))
            {
                parameters[tensor] = sourceParameters;
                continue;
            }

            if (plan.ScaledTensors.TryGetValue(tensor, out var scaledFrom) && parameters.TryGetValue(scaledFrom.Source, out var unscaled))
            {
                parameters[tensor] = unscaled with { Scale = unscaled.Scale * scaledFrom.Factor };
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
        var dequantizedNames = new Dictionary<string, string>(StringComparer.Ordinal);
        var dequantizedSources = new Dictionary<string, string>(StringComparer.Ordinal);
        var quantizedNames = new Dictionary<string, string>(StringComparer.Ordinal);

        // A tensor read only by Mul nodes that are folded into a scale needs no DequantizeLinear of its own.
        var folded = plan.ScaledTensors.Keys.ToHashSet(StringComparer.Ordinal);
        var readByUnfolded = graph.Node.Where(node => !node.Output.Any(folded.Contains)).SelectMany(node => node.Input)
            .Concat(graph.Output.Select(output => output.Name)).ToHashSet(StringComparer.Ordinal);
        var scaleNames = new Dictionary<int, string>();
        var zeroPointNames = new Dictionary<(QuantizedType, int), string>();
        var counters = new Dictionary<string, int>(StringComparer.Ordinal);

        // The next unused name of a kind: kind + base-62 number, numbered in the order the builder asks (graph order).
        string Value(string kind)
        {
            while (true)
            {
                var number = counters.GetValueOrDefault(kind);
                counters[kind] = number + 1;
                var name = kind + Base62(number);
                if (existingNames.Add(name))
                {
                    return name;
                }
            }
        }

        NodeProto Add(string opType, string[] inputs, string output)
        {
            var node = Node(opType, "", inputs, output);
            nodes.Add(node);
            return node;
        }

        string ScaleName(float scale)
        {
            var bits = BitConverter.SingleToInt32Bits(scale);
            if (!scaleNames.TryGetValue(bits, out var name))
            {
                name = Value("s");
                newInitializers.Add(OnnxTensors.Float(name, [], [scale]));
                scaleNames[bits] = name;
            }

            return name;
        }

        string ZeroPointName(QuantizationParameters p)
        {
            if (!zeroPointNames.TryGetValue((p.Type, p.ZeroPoint), out var name))
            {
                name = Value("z");
                newInitializers.Add(OnnxTensors.EightBit(name, [], p.Type, [unchecked((byte)p.ZeroPoint)]));
                zeroPointNames[(p.Type, p.ZeroPoint)] = name;
            }

            return name;
        }

        void AddQdq(string tensor)
        {
            var p = parameters[tensor];
            var scale = ScaleName(p.Scale);
            var zeroPoint = ZeroPointName(p);
            var quantized = Value("q");
            Add("QuantizeLinear", [tensor, scale, zeroPoint], quantized);
            quantizedNames[tensor] = quantized;
            if (readByUnfolded.Contains(tensor))
            {
                AddDequantize(tensor, quantized);
            }
        }

        void AddDequantize(string tensor, string quantized)
        {
            var p = parameters[tensor];
            var dequantized = Value("d");
            Add("DequantizeLinear", [quantized, ScaleName(p.Scale), ZeroPointName(p)], dequantized);
            dequantizedNames[tensor] = dequantized;
            dequantizedSources[dequantized] = tensor;
        }

        var qdqSet = plan.QdqTensors.ToHashSet(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(input => qdqSet.Contains(input.Name)))
        {
            AddQdq(input.Name);
        }

        foreach (var node in graph.Node)
        {
            if (node.Output.Count == 1 && plan.ScaledTensors.TryGetValue(node.Output[0], out var scaled) && quantizedNames.TryGetValue(scaled.Source, out var source))
            {
                // Mul by a positive constant: the source's 8-bit values, dequantized with the scale times the constant.
                quantizedNames[node.Output[0]] = source;
                if (readByUnfolded.Contains(node.Output[0]))
                {
                    AddDequantize(node.Output[0], source);
                }

                continue;
            }

            var isQuantized = plan.QuantizedNodes.Contains(node.Name);
            var floatInput = node.Input.Count > 0 ? node.Input[0] : "";
            for (var i = 0; i < node.Input.Count; i++)
            {
                if (dequantizedNames.TryGetValue(node.Input[i], out var dequantized))
                {
                    node.Input[i] = dequantized;
                }
            }

            if ((isQuantized || plan.WeightOnlyNodes.Contains(node.Name)) && QuantizationPlan.WeightedOpTypes.Contains(node.OpType))
            {
                // An integer kernel needs its activation input dequantized; a node planned quantized whose input
                // stays float (its producer was excluded) computes in float like a weight-only one.
                var integerKernel = isQuantized && dequantizedSources.ContainsKey(node.Input[0]);
                QuantizeWeights(node, integerKernel, inputChannelMeans?.GetValueOrDefault(floatInput));
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

        // The model's own intermediate tensors get short names too (graph inputs and outputs keep theirs).
        var graphOutputs = graph.Output.Select(output => output.Name).ToHashSet(StringComparer.Ordinal);
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                if (output.Length > 0 && !graphOutputs.Contains(output) && !renamed.ContainsKey(output))
                {
                    renamed[output] = Value("t");
                }
            }
        }

        foreach (var node in nodes)
        {
            for (var i = 0; i < node.Input.Count; i++)
            {
                node.Input[i] = renamed.GetValueOrDefault(node.Input[i], node.Input[i]);
            }

            for (var i = 0; i < node.Output.Count; i++)
            {
                node.Output[i] = renamed.GetValueOrDefault(node.Output[i], node.Output[i]);
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
        return new QdqBuild(model, weights, dequantizedNames);

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
            var quantized = Value("c");
            var dequantized = Value("d");
            newInitializers.Add(OnnxTensors.EightBit(quantized, [.. constant.Dims], p.Type, bytes));
            Add("DequantizeLinear", [quantized, ScaleName(p.Scale), ZeroPointName(p)], dequantized);
            quantizedConstants[constant.Name] = dequantized;
            return dequantized;
        }

        void QuantizeWeights(NodeProto node, bool integerKernel, double[]? inputMeans)
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
            var errors = new float[values.Length];
            double signal = 0, noise = 0;
            var inner = dims.Skip(axis + 1).Aggregate(1L, (product, dimension) => product * dimension);
            for (var i = 0; i < values.Length; i++)
            {
                var channel = channelScales.Length == 1 ? 0 : (int)(i / inner % channels);
                var p = new QuantizationParameters(channelScales[channel], 0, QuantizedType.Int8);
                var q = Math.Clamp(p.Quantize(values[i]), -127, 127);
                quantized[i] = unchecked((byte)(sbyte)q);
                var error = p.Dequantize(q) - values[i];
                errors[i] = error;
                signal += (double)values[i] * values[i];
                noise += (double)error * error;
            }

            var quantizedName = Value("w");
            var scaleName = Value("s");
            var dequantizedName = Value("d");
            newInitializers.Add(OnnxTensors.EightBit(quantizedName, dims, QuantizedType.Int8, quantized));
            if (integerKernel)
            {
                // The int8 zero point is 0 and optional in DequantizeLinear, so it is left out.
                newInitializers.Add(OnnxTensors.Float(scaleName, channelScales.Length == 1 ? [] : [channelScales.Length], channelScales));
                var dequantize = Add("DequantizeLinear", [quantizedName, scaleName], dequantizedName);
                if (channelScales.Length > 1)
                {
                    dequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis });
                }
            }
            else
            {
                // A float kernel: Cast to float times the scale (shaped to broadcast along the channel axis), the same
                // values as DequantizeLinear. ONNX Runtime keeps a DequantizeLinear of a weight for its QDQ fusions,
                // so a float Conv behind one sees a weight that changes every run and loses its fast paths (NCHWc
                // layout, pre-packed weights: 2-3x slower on PicoDet's depthwise layers); Cast and Mul of constants
                // it folds into a float weight when the session loads. The file keeps one byte a weight.
                long[] scaleDims = channelScales.Length == 1 ? [] : [.. dims.Select((dimension, index) => index == axis ? dimension : 1L)];
                newInitializers.Add(OnnxTensors.Float(scaleName, scaleDims, channelScales));
                var widened = Value("d");
                var cast = Add("Cast", [quantizedName], widened);
                cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
                Add("Mul", [widened, scaleName], dequantizedName);
            }

            node.Input[weightIndex] = dequantizedName;
            var biasIndex = 2;
            var hasFloatBias = node.Input.Count > biasIndex && initializers.TryGetValue(node.Input[biasIndex], out var bias) && bias.DataType == (int)TensorProto.Types.DataType.Float;
            var shift = hasFloatBias && inputMeans is not null ? BiasCorrection.OutputShift(node, dims, errors, inputMeans) : null;
            weights.Add(new WeightQuantization(
                node.Name, node.OpType, weight.Name, channelScales.Length, channelScales.Length > 1, Sqnr(signal, noise), shift?.Average(Math.Abs)));
            if (!hasFloatBias)
            {
                return;
            }

            bias = initializers[node.Input[biasIndex]];
            var biasValues = OnnxTensors.ReadFloats(bias);
            if (shift is not null && (biasValues.Length == shift.Length || biasValues.Length == 1))
            {
                // Take the expected output shift off the bias (a scalar bias becomes per channel).
                biasValues = [.. shift.Select((value, c) => (float)((biasValues.Length == 1 ? biasValues[0] : biasValues[c]) - value))];
            }

            // Bias: int32 at scale input x weight, so the integer kernel adds it to its accumulator directly. A
            // weight-only node computes in float and keeps a float bias (4 bytes a channel instead of 8).
            var activationInput = node.Input[0];
            if (integerKernel && dequantizedSources.TryGetValue(activationInput, out var inputTensor)
                && parameters.TryGetValue(inputTensor, out var inputParameters)
                && (node.OpType == "Conv" || (node.OpType == "Gemm" && bias.Dims.Count <= 1)))
            {
                var outputs = node.OpType == "Conv" ? (int)dims[0] : (int)dims[axis];
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

                var biasQuantizedName = Value("b");
                var biasScaleName = Value("s");
                var biasDequantizedName = Value("d");
                newInitializers.Add(OnnxTensors.Int32(biasQuantizedName, [outputs], biasQuantized));
                newInitializers.Add(OnnxTensors.Float(biasScaleName, [outputs], biasScales));

                // The int32 bias zero point must be 0; it is optional, so it is left out.
                var biasDequantize = Add("DequantizeLinear", [biasQuantizedName, biasScaleName], biasDequantizedName);
                biasDequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
                node.Input[biasIndex] = biasDequantizedName;
            }
            else if (shift is not null)
            {
                // A float bias (weight-only node): the corrected values replace it under a new name.
                var correctedName = Value("f");
                newInitializers.Add(OnnxTensors.Float(correctedName, [biasValues.Length], biasValues));
                node.Input[biasIndex] = correctedName;
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

    private const string Base62Digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private static string Base62(int number)
    {
        Span<char> digits = stackalloc char[8];
        var position = digits.Length;
        do
        {
            digits[--position] = Base62Digits[number % 62];
            number /= 62;
        }
        while (number > 0);
        return new string(digits[position..]);
    }

    private static NodeProto Node(string opType, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType };
        if (name.Length > 0)
        {
            node.Name = name;
        }

        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }
}
