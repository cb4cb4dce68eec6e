using System.Globalization;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>
/// Two convolutions whose channels can be rescaled against each other without changing what the graph computes:
/// <see cref="First"/>'s output channel i feeds <see cref="Second"/>'s input channel i through nothing or only
/// positively homogeneous, per-channel ops (<see cref="Between"/>: Relu, LeakyRelu, Identity, MaxPool), for which
/// f(s x) = s f(x) when s &gt; 0.
/// </summary>
public sealed record EqualizationPair(string First, string Second, IReadOnlyList<string> Between, int Channels);

/// <summary>What equalization did: the pairs rescaled, the sweeps run, and the mean weight-range ratio before and after.</summary>
public sealed record EqualizationSummary(IReadOnlyList<EqualizationPair> Pairs, int Sweeps, double MeanRangeRatioBefore, double MeanRangeRatioAfter)
{
    public string Describe() => Pairs.Count == 0
        ? "equalize: no equalizable Conv pairs (a positively homogeneous activation, or none, is needed between them)"
        : string.Create(CultureInfo.InvariantCulture,
            $"equalize: {Pairs.Count} Conv pair(s) equalized in {Sweeps} sweep(s); mean per-channel weight-range ratio max/min(r1, r2) {MeanRangeRatioBefore:F2} -> {MeanRangeRatioAfter:F2}");
}

/// <summary>
/// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
/// Correction"), an FP32 rewrite before calibration. For each pair and channel i, with r1 the largest |weight| of the
/// first Conv's output channel i and r2 that of the second Conv's input-channel-i slice, s_i = sqrt(r1 r2) / r2: the
/// first Conv's weights and bias for channel i are divided by s_i and the second Conv's input-channel-i weights
/// multiplied by it, so both ranges become sqrt(r1 r2) and the output is unchanged (up to float rounding). Chains
/// (depthwise -> pointwise -> depthwise) share a Conv between pairs, so a few sweeps run in graph order. Deterministic.
/// </summary>
public static class CrossLayerEqualization
{
    /// <summary>Ops allowed between the two convolutions: per channel and positively homogeneous.</summary>
    private static readonly HashSet<string> HomogeneousOps = new(StringComparer.Ordinal) { "Relu", "LeakyRelu", "Identity", "MaxPool" };

    /// <summary>The equalizable pairs of <paramref name="graph"/>, in graph order.</summary>
    public static IReadOnlyList<EqualizationPair> FindPairs(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(output => output.Name).ToHashSet(StringComparer.Ordinal);
        var readers = new Dictionary<string, List<(NodeProto Node, int Slot)>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            for (var slot = 0; slot < node.Input.Count; slot++)
            {
                if (node.Input[slot].Length == 0)
                {
                    continue;
                }

                if (!readers.TryGetValue(node.Input[slot], out var list))
                {
                    readers[node.Input[slot]] = list = [];
                }

                list.Add((node, slot));
            }
        }

        // A tensor read once, by one node, and not a graph output: rescaling it is invisible outside the pair.
        (NodeProto Node, int Slot)? OnlyReader(string tensor) =>
            !graphOutputs.Contains(tensor) && readers.TryGetValue(tensor, out var list) && list.Count == 1 ? list[0] : null;

        // A weight or bias that only this node reads, so rewriting it changes nothing else.
        bool OwnConstant(NodeProto node, int slot) =>
            node.Input.Count > slot && initializers.TryGetValue(node.Input[slot], out var tensor)
            && tensor.DataType == (int)TensorProto.Types.DataType.Float && readers[node.Input[slot]].Count == 1;

        // Pairs are named by their nodes, so only nodes with a name of their own qualify (ModelPreparation names them all).
        var uniqueNames = graph.Node.GroupBy(node => node.Name, StringComparer.Ordinal)
            .Where(group => group.Key.Length > 0 && group.Count() == 1).Select(group => group.Key).ToHashSet(StringComparer.Ordinal);

        var pairs = new List<EqualizationPair>();
        foreach (var first in graph.Node.Where(node => node.OpType == "Conv"))
        {
            if (!uniqueNames.Contains(first.Name) || first.Output.Count != 1 || !OwnConstant(first, 1) || initializers[first.Input[1]].Dims.Count < 3
                || (first.Input.Count > 2 && first.Input[2].Length > 0 && !OwnConstant(first, 2)))
            {
                continue;
            }

            var between = new List<string>();
            var tensor = first.Output[0];
            NodeProto? second = null;
            while (OnlyReader(tensor) is (NodeProto reader, int slot))
            {
                if (reader.OpType == "Conv")
                {
                    second = slot == 0 ? reader : null;
                    break;
                }

                if (slot != 0 || !HomogeneousOps.Contains(reader.OpType) || reader.Output.Count != 1)
                {
                    break;
                }

                between.Add(reader.Name);
                tensor = reader.Output[0];
            }

            if (second is null || !uniqueNames.Contains(second.Name) || !OwnConstant(second, 1))
            {
                continue;
            }

            // A bias that is not one value per output channel is not a Conv this rewrite understands: leave it alone
            // (ONNX Runtime reports the malformed model when it loads it).
            var channels = (int)initializers[first.Input[1]].Dims[0];
            if (channels < 1 || first.Input.Count > 2 && first.Input[2].Length > 0 && OnnxTensors.ElementCount(initializers[first.Input[2]]) != channels)
            {
                continue;
            }

            var secondWeight = initializers[second.Input[1]];
            var groups = Group(second);
            if (secondWeight.Dims.Count < 3 || groups < 1 || secondWeight.Dims[1] * groups != channels || secondWeight.Dims[0] % groups != 0)
            {
                continue;
            }

            pairs.Add(new EqualizationPair(first.Name, second.Name, between, channels));
        }

        return pairs;
    }

    /// <summary>
    /// Equalizes every pair of <paramref name="graph"/> in place, sweeping until no scale moves by more than 1e-4 or
    /// <paramref name="maxSweeps"/> ran.
    /// </summary>
    public static EqualizationSummary Apply(GraphProto graph, int maxSweeps = 8)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSweeps, 1);
        var pairs = FindPairs(graph);
        if (pairs.Count == 0)
        {
            return new EqualizationSummary(pairs, 0, 1, 1);
        }

        var pairNodes = pairs.SelectMany(pair => new[] { pair.First, pair.Second }).ToHashSet(StringComparer.Ordinal);
        var nodes = graph.Node.Where(node => pairNodes.Contains(node.Name)).ToDictionary(node => node.Name, StringComparer.Ordinal);
        var initializerIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var index = 0; index < graph.Initializer.Count; index++)
        {
            initializerIndex[graph.Initializer[index].Name] = index;
        }

        // Work on float copies and write each changed tensor back once, at the end.
        var values = new Dictionary<string, (float[] Data, long[] Dims)>(StringComparer.Ordinal);
        (float[] Data, long[] Dims) Values(string name)
        {
            if (!values.TryGetValue(name, out var entry))
            {
                var tensor = graph.Initializer[initializerIndex[name]];
                values[name] = entry = (OnnxTensors.ReadFloats(tensor), [.. tensor.Dims]);
            }

            return entry;
        }

        var before = pairs.Average(pair => RangeRatio(pair, nodes, Values));
        var sweeps = 0;
        for (var sweep = 0; sweep < maxSweeps; sweep++)
        {
            sweeps++;
            var largestMove = 0.0;
            foreach (var pair in pairs)
            {
                var first = nodes[pair.First];
                var second = nodes[pair.Second];
                var (w1, _) = Values(first.Input[1]);
                var (w2, dims2) = Values(second.Input[1]);
                float[]? bias = first.Input.Count > 2 && first.Input[2].Length > 0 ? Values(first.Input[2]).Data : null;
                var r1 = OutputChannelRanges(w1, pair.Channels);
                var r2 = InputChannelRanges(w2, dims2, Group(second));
                var window1 = w1.Length / pair.Channels;
                for (var channel = 0; channel < pair.Channels; channel++)
                {
                    // A dead channel on either side has nothing to balance.
                    if (!(r1[channel] > 0 && r2[channel] > 0 && double.IsFinite(r1[channel] * r2[channel])))
                    {
                        continue;
                    }

                    var scale = Math.Sqrt(r1[channel] * r2[channel]) / r2[channel];
                    largestMove = Math.Max(largestMove, Math.Abs(Math.Log(scale)));
                    var inverse = (float)(1 / scale);
                    foreach (ref var weight in w1.AsSpan(channel * window1, window1))
                    {
                        weight *= inverse;
                    }

                    if (bias is not null)
                    {
                        bias[channel] *= inverse;
                    }

                    ScaleInputChannel(w2, dims2, Group(second), channel, (float)scale);
                }
            }

            if (largestMove < 1e-4)
            {
                break;
            }
        }

        var after = pairs.Average(pair => RangeRatio(pair, nodes, Values));
        foreach (var (name, (data, dims)) in values.OrderBy(entry => entry.Key, StringComparer.Ordinal))
        {
            graph.Initializer[initializerIndex[name]] = OnnxTensors.Float(name, dims, data);
        }

        return new EqualizationSummary(pairs, sweeps, before, after);
    }

    /// <summary>Largest |w| per output channel (axis 0).</summary>
    public static double[] OutputChannelRanges(ReadOnlySpan<float> weights, int channels)
    {
        var ranges = new double[channels];
        var window = weights.Length / channels;
        for (var channel = 0; channel < channels; channel++)
        {
            ranges[channel] = MaxAbs(weights.Slice(channel * window, window));
        }

        return ranges;
    }

    /// <summary>
    /// Largest |w| over the weights that read input channel c, for a Conv weight [O, C/g, k...] with g groups: input
    /// channel c is slice c mod (C/g) of the outputs of group c / (C/g).
    /// </summary>
    public static double[] InputChannelRanges(ReadOnlySpan<float> weights, IReadOnlyList<long> dims, int groups)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var perGroup = (int)dims[1];
        var outputsPerGroup = (int)dims[0] / groups;
        var window = weights.Length / ((int)dims[0] * perGroup);
        var ranges = new double[perGroup * groups];
        for (var channel = 0; channel < ranges.Length; channel++)
        {
            var group = channel / perGroup;
            var slice = channel % perGroup;
            double range = 0;
            for (var output = group * outputsPerGroup; output < (group + 1) * outputsPerGroup; output++)
            {
                range = Math.Max(range, MaxAbs(weights.Slice(((output * perGroup) + slice) * window, window)));
            }

            ranges[channel] = range;
        }

        return ranges;
    }

    private static void ScaleInputChannel(float[] weights, long[] dims, int groups, int channel, float scale)
    {
        var perGroup = (int)dims[1];
        var outputsPerGroup = (int)dims[0] / groups;
        var window = weights.Length / ((int)dims[0] * perGroup);
        var group = channel / perGroup;
        for (var output = group * outputsPerGroup; output < (group + 1) * outputsPerGroup; output++)
        {
            foreach (ref var weight in weights.AsSpan(((output * perGroup) + (channel % perGroup)) * window, window))
            {
                weight *= scale;
            }
        }
    }

    /// <summary>Mean over channels of max(r1, r2) / min(r1, r2): 1 when balanced.</summary>
    private static double RangeRatio(EqualizationPair pair, Dictionary<string, NodeProto> nodes, Func<string, (float[] Data, long[] Dims)> values)
    {
        var first = nodes[pair.First];
        var second = nodes[pair.Second];
        var r1 = OutputChannelRanges(values(first.Input[1]).Data, pair.Channels);
        var (w2, dims2) = values(second.Input[1]);
        var r2 = InputChannelRanges(w2, dims2, Group(second));
        var ratios = r1.Zip(r2, (a, b) => a > 0 && b > 0 ? Math.Max(a, b) / Math.Min(a, b) : 1).ToList();
        return ratios.Count == 0 ? 1 : ratios.Average();
    }

    private static double MaxAbs(ReadOnlySpan<float> values)
    {
        double max = 0;
        foreach (var value in values)
        {
            max = Math.Max(max, Math.Abs((double)value));
        }

        return max;
    }

    private static int Group(NodeProto node) => (int)(node.Attribute.FirstOrDefault(attribute => attribute.Name == "group")?.I ?? 1);
}
