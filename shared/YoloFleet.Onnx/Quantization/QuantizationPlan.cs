using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>A node kept in FP32, and why.</summary>
public sealed record FloatNode(string Name, string OpType, string Reason);

/// <summary>A tensor that is <paramref name="Source"/> times a positive constant <paramref name="Factor"/>.</summary>
public sealed record ScaledTensor(string Source, float Factor);

/// <summary>
/// Which nodes run quantized and which tensors carry a QuantizeLinear/DequantizeLinear pair, decided from the graph
/// alone (no data). A node is quantized when its operator has an integer form in ONNX Runtime (or passes 8-bit values
/// through), it is not excluded, and it is not in the decode tail: the nodes after the last Conv/Gemm/MatMul on every
/// path, where box coordinates in pixels and class scores meet and one 8-bit scale cannot hold both.
/// </summary>
public sealed class QuantizationPlan
{
    /// <summary>Operators with weights: per-channel int8 weights and int32 bias.</summary>
    public static readonly IReadOnlySet<string> WeightedOpTypes = new HashSet<string>(StringComparer.Ordinal) { "Conv", "Gemm", "MatMul" };

    /// <summary>
    /// Operators whose output keeps its input's scale and zero point, so ONNX Runtime can run them on 8-bit values and
    /// drop the QDQ pairs around them (MaxPool, Resize and the shape operators).
    /// </summary>
    public static readonly IReadOnlySet<string> PassThroughOpTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "MaxPool", "Resize", "Reshape", "Transpose", "Slice", "Split", "Flatten", "Squeeze", "Unsqueeze", "Identity",
    };

    /// <summary>Operators with fused integer kernels (QLinear*) or that the runtime folds into the next QuantizeLinear (Relu, Clip).</summary>
    public static readonly IReadOnlySet<string> ArithmeticOpTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Add", "Mul", "Sigmoid", "Concat", "AveragePool", "GlobalAveragePool", "LeakyRelu", "Relu", "Clip",
    };

    private QuantizationPlan(
        HashSet<string> quantizedNodes, HashSet<string> weightOnlyNodes, List<FloatNode> floatNodes, List<string> qdqTensors, Dictionary<string, string> sharedScale,
        Dictionary<string, ScaledTensor> scaled)
    {
        QuantizedNodes = quantizedNodes;
        WeightOnlyNodes = weightOnlyNodes;
        FloatNodes = floatNodes;
        QdqTensors = qdqTensors;
        SharedScaleSource = sharedScale;
        ScaledTensors = scaled;
    }

    /// <summary>Names of the nodes that run quantized.</summary>
    public IReadOnlySet<string> QuantizedNodes { get; }

    /// <summary>
    /// Excluded weighted nodes that still store int8 weights (dequantized at run time) while computing and passing on
    /// float activations: what auto-exclusion keeps in FP32 is the activation, where the error is; weights at 8 bits
    /// per channel lose little (about 40 dB SQNR) and are three quarters of the file.
    /// </summary>
    public IReadOnlySet<string> WeightOnlyNodes { get; }

    /// <summary>Nodes kept in FP32 that do computation (shape plumbing such as Shape is left out), with the reason, in graph order.</summary>
    public IReadOnlyList<FloatNode> FloatNodes { get; }

    /// <summary>Activation tensors (graph inputs and node outputs) that get a QuantizeLinear/DequantizeLinear pair, in graph order.</summary>
    public IReadOnlyList<string> QdqTensors { get; }

    /// <summary>For a pass-through node's output, the tensor whose scale it shares.</summary>
    public IReadOnlyDictionary<string, string> SharedScaleSource { get; }

    /// <summary>
    /// The outputs of quantized Mul nodes by a positive scalar constant k (PicoDet's hard-swish ends in one: the
    /// <c>/ 6</c>, made a Mul by preparation), with the quantized tensor they scale. Such a Mul is not written: its
    /// output is its input's 8-bit values read with k times the input's scale (same zero point), which is exact and
    /// saves one integer kernel pass over the tensor.
    /// </summary>
    public IReadOnlyDictionary<string, ScaledTensor> ScaledTensors { get; }

    /// <summary>Plans <paramref name="graph"/> (prepared and in topological order).</summary>
    public static QuantizationPlan Create(
        GraphProto graph, IReadOnlyCollection<string> excludedNodes, IReadOnlyCollection<string> excludedOpTypes, bool quantizeDecodeTail = false,
        IReadOnlyCollection<string>? weightOnlyNodes = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(excludedNodes);
        ArgumentNullException.ThrowIfNull(excludedOpTypes);
        var nodesByName = graph.Node.ToDictionary(node => node.Name, StringComparer.Ordinal);
        if (excludedNodes.FirstOrDefault(name => !nodesByName.ContainsKey(name)) is { } unknown)
        {
            throw new QuantizationException($"--exclude names node '{unknown}', which the model does not have (node names are case-sensitive).");
        }

        var excludedByName = excludedNodes.ToHashSet(StringComparer.Ordinal);
        var excludedByType = excludedOpTypes.ToHashSet(StringComparer.Ordinal);
        var initializers = OnnxGraph.InitializerNames(graph);
        var floatTensors = FloatTensors(graph);
        var tail = quantizeDecodeTail ? [] : DecodeTail(graph);

        var quantized = new HashSet<string>(StringComparer.Ordinal);
        var floatNodes = new List<FloatNode>();
        foreach (var node in graph.Node)
        {
            var supported = WeightedOpTypes.Contains(node.OpType) || PassThroughOpTypes.Contains(node.OpType) || ArithmeticOpTypes.Contains(node.OpType);
            string? reason = null;
            if (excludedByName.Contains(node.Name))
            {
                reason = "excluded by name";
            }
            else if (excludedByType.Contains(node.OpType))
            {
                reason = $"excluded by op type {node.OpType}";
            }
            else if (!supported)
            {
                reason = $"no integer kernel for {node.OpType}";
            }
            else if (tail.Contains(node.Name))
            {
                reason = "decode tail (no Conv/Gemm/MatMul after it)";
            }
            else if (node.Input.Where(input => input.Length > 0).Take(DataInputCount(node)).Any(input => !floatTensors.Contains(input)))
            {
                reason = "reads a non-float tensor";
            }
            else if (node.OpType == "Conv" && (node.Input.Count < 2 || !initializers.Contains(node.Input[1])))
            {
                reason = "Conv weight is not a constant";
            }

            if (reason is null)
            {
                quantized.Add(node.Name);
            }
            else if (node.OpType is not ("Shape" or "Gather" or "Cast" or "ConstantOfShape" or "Unsqueeze" or "Squeeze" or "Range"))
            {
                floatNodes.Add(new FloatNode(node.Name, node.OpType, reason));
            }
        }

        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producers[output] = node;
            }
        }

        var graphOutputs = graph.Output.Select(output => output.Name).ToHashSet(StringComparer.Ordinal);
        var activationReadByQuantized = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(node => quantized.Contains(node.Name)))
        {
            foreach (var input in ActivationInputs(node))
            {
                if (input.Length > 0 && !initializers.Contains(input))
                {
                    activationReadByQuantized.Add(input);
                }
            }
        }

        var qdq = new List<string>();
        var shared = new Dictionary<string, string>(StringComparer.Ordinal);
        var candidates = graph.Input.Select(input => input.Name).Where(name => !initializers.Contains(name))
            .Concat(graph.Node.SelectMany(node => node.Output));
        foreach (var tensor in candidates)
        {
            if (tensor.Length == 0 || !floatTensors.Contains(tensor) || graphOutputs.Contains(tensor))
            {
                continue;
            }

            // A node kept in FP32 on purpose keeps its output in FP32 too; its quantized readers then read float.
            var hasProducer = producers.TryGetValue(tensor, out var producer);
            var producedQuantized = hasProducer && quantized.Contains(producer!.Name);
            var producerExcluded = hasProducer && (excludedByName.Contains(producer!.Name) || excludedByType.Contains(producer.OpType));
            if (producedQuantized || (activationReadByQuantized.Contains(tensor) && !producerExcluded))
            {
                qdq.Add(tensor);
                if (producedQuantized && PassThroughOpTypes.Contains(producer!.OpType))
                {
                    shared[tensor] = producer.Input[0];
                }
            }
        }

        var qdqSet = qdq.ToHashSet(StringComparer.Ordinal);
        var initializerTensors = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var scaled = new Dictionary<string, ScaledTensor>(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(node => node.OpType == "Mul" && node.Input.Count == 2 && quantized.Contains(node.Name)))
        {
            for (var i = 0; i < 2; i++)
            {
                var data = node.Input[1 - i];
                if (PositiveScalar(initializerTensors, node.Input[i]) is { } factor && qdqSet.Contains(data) && qdqSet.Contains(node.Output[0]))
                {
                    scaled[node.Output[0]] = new ScaledTensor(data, factor);
                    break;
                }
            }
        }

        var weightOnly = (weightOnlyNodes ?? []).Where(name => !quantized.Contains(name) && nodesByName.TryGetValue(name, out var node)
            && WeightedOpTypes.Contains(node.OpType) && node.Input.Count > 1 && initializers.Contains(node.Input[1])).ToHashSet(StringComparer.Ordinal);
        return new QuantizationPlan(quantized, weightOnly, floatNodes, qdq, shared, scaled);
    }

    /// <summary>
    /// The value of a float initializer with one element and rank 0 or 1 (so broadcasting cannot change the other
    /// input's shape) when it is positive and finite; otherwise null.
    /// </summary>
    private static float? PositiveScalar(Dictionary<string, TensorProto> initializers, string name)
    {
        if (!initializers.TryGetValue(name, out var tensor) || tensor.DataType != (int)TensorProto.Types.DataType.Float || tensor.Dims.Count > 1 || OnnxTensors.ElementCount(tensor) != 1)
        {
            return null;
        }

        var value = OnnxTensors.ReadFloats(tensor)[0];
        return float.IsFinite(value) && value > 0 ? value : null;
    }

    /// <summary>The inputs of a quantized node that carry activations (not weights, bias, shapes, scales or axes).</summary>
    public static IEnumerable<string> ActivationInputs(NodeProto node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.Input.Take(DataInputCount(node));
    }

    private static int DataInputCount(NodeProto node) => node.OpType switch
    {
        "Conv" => 1,
        "Gemm" or "MatMul" => 2,
        "Add" or "Mul" or "Concat" => node.Input.Count,
        _ => 1,
    };

    /// <summary>Nodes with no Conv, Gemm or MatMul after them on any path: the head's decode arithmetic, and the last weighted layers feeding it.</summary>
    public static HashSet<string> DecodeTail(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        // Walk backwards: a node leads to a weighted op if one of its consumers is weighted or leads to one.
        var leadsToWeighted = new HashSet<string>(StringComparer.Ordinal);
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            var feedsWeighted = node.Output.Any(output => consumers.TryGetValue(output, out var list)
                && list.Any(consumer => WeightedOpTypes.Contains(consumer.OpType) || leadsToWeighted.Contains(consumer.Name)));
            if (feedsWeighted)
            {
                leadsToWeighted.Add(node.Name);
            }
        }

        return graph.Node.Where(node => !leadsToWeighted.Contains(node.Name)).Select(node => node.Name).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The graph's float tensors (inputs, initializers, node outputs), from declared types and a simple propagation.</summary>
    public static HashSet<string> FloatTensors(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        const int Float = (int)TensorProto.Types.DataType.Float;
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            types[input.Name] = input.Type?.TensorType?.ElemType ?? 0;
        }

        foreach (var initializer in graph.Initializer)
        {
            types[initializer.Name] = initializer.DataType;
        }

        foreach (var node in graph.Node)
        {
            int type = node.OpType switch
            {
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => (int)TensorProto.Types.DataType.Int64,
                "Equal" or "Less" or "Greater" or "Not" or "And" or "Or" => (int)TensorProto.Types.DataType.Bool,
                "Cast" => (int)(node.Attribute.FirstOrDefault(attribute => attribute.Name == "to")?.I ?? 0),
                "Constant" => node.Attribute.FirstOrDefault(attribute => attribute.Name == "value")?.T?.DataType ?? 0,
                "ConstantOfShape" => node.Attribute.FirstOrDefault(attribute => attribute.Name == "value")?.T?.DataType ?? Float,
                _ => node.Input.Count > 0 && types.TryGetValue(node.Input[0], out var first) ? first : 0,
            };
            foreach (var output in node.Output)
            {
                types[output] = type;
            }
        }

        return types.Where(entry => entry.Value == Float).Select(entry => entry.Key).ToHashSet(StringComparer.Ordinal);
    }
}
