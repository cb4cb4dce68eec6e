using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>
/// Puts an FP32 model into the shape the quantizer works on, keeping what it computes: weights that were listed as
/// inputs become plain initializers, Constant nodes become initializers, division by a constant becomes
/// multiplication (ONNX Runtime has an integer Mul kernel and no integer Div), every node gets a name, and the default
/// opset is raised to 13 (per-channel DequantizeLinear needs its axis attribute), converting the operators whose
/// attributes moved to inputs on the way.
/// </summary>
public static class ModelPreparation
{
    /// <summary>The default-domain opset the quantized model uses at least.</summary>
    public const long MinimumOpset = 13;

    private static readonly HashSet<string> QuantizedOpTypes = new(StringComparer.Ordinal)
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
        "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearLeakyRelu",
    };

    private static readonly HashSet<string> SubgraphOpTypes = new(StringComparer.Ordinal) { "If", "Loop", "Scan" };

    /// <summary>Checks that <paramref name="model"/> can be quantized at all, then prepares it in place.</summary>
    /// <returns>One line per change made, for the report.</returns>
    /// <exception cref="QuantizationException">The model is already quantized, has no float input, or uses an operator this preparation cannot carry to opset 13.</exception>
    public static IReadOnlyList<string> Prepare(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new QuantizationException("The model has no graph.");
        var changes = new List<string>();
        CheckQuantizable(model);

        var removed = OnnxModelFile.RemoveInitializersFromInputs(model);
        if (removed > 0)
        {
            changes.Add($"removed {removed} initializers listed as graph inputs");
        }

        NameNodes(graph, changes);
        ConstantsToInitializers(graph, changes);
        DivisionByConstantToMultiplication(graph, changes);
        RaiseOpset(model, changes);

        var ordered = OnnxGraph.TopologicalOrder(graph);
        graph.Node.Clear();
        graph.Node.AddRange(ordered);
        return changes;
    }

    /// <exception cref="QuantizationException">The model is already quantized, has subgraphs, has no float input, or has no Conv, Gemm or MatMul.</exception>
    public static void CheckQuantizable(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new QuantizationException("The model has no graph.");
        var quantized = graph.Node.Where(node => QuantizedOpTypes.Contains(node.OpType)).ToList();
        if (quantized.Count > 0)
        {
            throw new QuantizationException(
                $"The model is already quantized: it has {quantized.Count} quantized operator(s) ({string.Join(", ", quantized.Select(node => node.OpType).Distinct().Order(StringComparer.Ordinal))}). " +
                "Quantize the FP32 model it was made from.");
        }

        if (graph.Node.FirstOrDefault(node => SubgraphOpTypes.Contains(node.OpType)) is { } control)
        {
            throw new QuantizationException($"Node '{control.Name}' is a {control.OpType} with a subgraph; models with control flow are not supported.");
        }

        if (graph.Node.Any(node => node.Domain is { Length: > 0 } domain && domain != "ai.onnx"))
        {
            var custom = graph.Node.First(node => node.Domain is { Length: > 0 } domain && domain != "ai.onnx");
            throw new QuantizationException($"Node '{custom.Name}' is {custom.Domain}.{custom.OpType}, outside the default ONNX domain; only standard operators are supported.");
        }

        var initializers = OnnxGraph.InitializerNames(graph);
        var inputs = graph.Input.Where(input => !initializers.Contains(input.Name)).ToList();
        if (inputs.Count == 0 || inputs.Any(input => input.Type?.TensorType?.ElemType != (int)TensorProto.Types.DataType.Float))
        {
            throw new QuantizationException(
                $"The model's inputs ({string.Join(", ", inputs.Select(input => $"{input.Name}: {OnnxTensors.DataTypeName(input.Type?.TensorType?.ElemType ?? 0)}"))}) are not all FLOAT; only FP32 models are quantized.");
        }

        if (!graph.Node.Any(node => node.OpType is "Conv" or "Gemm" or "MatMul"))
        {
            throw new QuantizationException("The model has no Conv, Gemm or MatMul: there is nothing to quantize.");
        }
    }

    private static void NameNodes(GraphProto graph, List<string> changes)
    {
        var used = graph.Node.Where(node => node.HasName && node.Name.Length > 0).Select(node => node.Name).ToHashSet(StringComparer.Ordinal);
        var named = 0;
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.HasName && node.Name.Length > 0)
            {
                continue;
            }

            var name = $"{node.OpType}_node{i}";
            while (!used.Add(name))
            {
                name += "_";
            }

            node.Name = name;
            named++;
        }

        if (named > 0)
        {
            changes.Add($"named {named} unnamed nodes");
        }
    }

    private static void ConstantsToInitializers(GraphProto graph, List<string> changes)
    {
        var converted = 0;
        foreach (var node in graph.Node.Where(node => node.OpType == "Constant").ToList())
        {
            if (node.Attribute.Count != 1 || node.Attribute[0].Name != "value" || node.Attribute[0].T is null)
            {
                continue;
            }

            var tensor = node.Attribute[0].T.Clone();
            tensor.Name = node.Output[0];
            graph.Initializer.Add(tensor);
            graph.Node.Remove(node);
            converted++;
        }

        if (converted > 0)
        {
            changes.Add($"turned {converted} Constant nodes into initializers");
        }
    }

    private static void DivisionByConstantToMultiplication(GraphProto graph, List<string> changes)
    {
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var converted = 0;
        foreach (var node in graph.Node.Where(node => node.OpType == "Div" && node.Input.Count == 2))
        {
            if (!initializers.TryGetValue(node.Input[1], out var divisor) || divisor.DataType != (int)TensorProto.Types.DataType.Float)
            {
                continue;
            }

            var values = OnnxTensors.ReadFloats(divisor);
            if (values.Any(value => value == 0f || !float.IsFinite(value)))
            {
                continue;
            }

            var name = divisor.Name + "_reciprocal";
            if (!initializers.ContainsKey(name))
            {
                var reciprocal = OnnxTensors.Float(name, [.. divisor.Dims], values.Select(value => 1f / value).ToArray());
                graph.Initializer.Add(reciprocal);
                initializers[name] = reciprocal;
            }

            node.OpType = "Mul";
            node.Input[1] = name;
            converted++;
        }

        if (converted > 0)
        {
            changes.Add($"turned {converted} divisions by a constant into multiplications");
        }
    }

    private static void RaiseOpset(ModelProto model, List<string> changes)
    {
        var opset = model.OpsetImport.FirstOrDefault(entry => !entry.HasDomain || entry.Domain is "" or "ai.onnx");
        if (opset is null)
        {
            model.OpsetImport.Add(opset = new OperatorSetIdProto { Domain = "", Version = MinimumOpset });
        }

        if (opset.Version < MinimumOpset)
        {
            var graph = model.Graph;
            foreach (var node in graph.Node)
            {
                switch (node.OpType)
                {
                    case "Split":
                        MoveIntsAttributeToInput(graph, node, "split", 1);
                        break;
                    case "Squeeze" or "Unsqueeze" or "ReduceSum":
                        MoveIntsAttributeToInput(graph, node, "axes", 1);
                        break;
                    case "Softmax" or "LogSoftmax" or "Hardmax":
                        var axis = node.Attribute.FirstOrDefault(attribute => attribute.Name == "axis")?.I ?? 1;
                        if (axis != -1)
                        {
                            throw new QuantizationException(
                                $"Node '{node.Name}' is a {node.OpType} over axis {axis} at opset {opset.Version}; its meaning changes at opset 13 and this model cannot be carried over safely.");
                        }

                        break;
                    case "Upsample" or "Scatter":
                        throw new QuantizationException($"Node '{node.Name}' is a {node.OpType}, which opset 13 no longer has; export the model at opset 13 or later.");
                }
            }

            changes.Add($"raised the default opset from {opset.Version} to {MinimumOpset}");
            opset.Version = MinimumOpset;
        }

        // Opset 13 needs IR version 7 or later.
        if (model.IrVersion < 7)
        {
            changes.Add($"raised the IR version from {model.IrVersion} to 7");
            model.IrVersion = 7;
        }
    }

    private static void MoveIntsAttributeToInput(GraphProto graph, NodeProto node, string attributeName, int inputIndex)
    {
        var attribute = node.Attribute.FirstOrDefault(candidate => candidate.Name == attributeName);
        if (attribute is null)
        {
            return;
        }

        var name = $"{node.Name}_{attributeName}";
        graph.Initializer.Add(OnnxTensors.Int64(name, [attribute.Ints.Count], attribute.Ints.ToArray()));
        while (node.Input.Count < inputIndex)
        {
            node.Input.Add("");
        }

        node.Input.Insert(inputIndex, name);
        node.Attribute.Remove(attribute);
    }
}
