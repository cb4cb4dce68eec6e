using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>
/// Empirical bias correction (after Nagel et al. 2019, "Data-Free Quantization", with calibration data in place of the
/// batch-norm statistics): rounding the weights moves each output channel's mean by (W_q - W) . E[x]; for a Conv, the
/// sum over the kernel window of (W_q - W)[o, c, kh, kw] * E[x_c] (padding ignored), within the output channel's group.
/// Subtracting that from the bias before it is quantized removes the shift. It does nothing for the noise around the
/// mean, only for the mean.
/// </summary>
public static class BiasCorrection
{
    /// <summary>The activation tensors whose per-channel means correction needs: the first input of every Conv and Gemm with a constant weight.</summary>
    public static IReadOnlyList<string> InputTensors(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var initializers = OnnxGraph.InitializerNames(graph);
        return [.. graph.Node
            .Where(node => node.OpType is "Conv" or "Gemm" && node.Input.Count > 1 && node.Input[0].Length > 0 && initializers.Contains(node.Input[1])
                && !initializers.Contains(node.Input[0]))
            .Select(node => node.Input[0])
            .Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The mean output shift per output channel that the weight error <paramref name="errors"/> (W_q - W, laid out as
    /// the weight <paramref name="weightDims"/>) causes for inputs with per-channel means <paramref name="inputMeans"/>,
    /// in the units of the node's bias; null when the node's form is not handled (the means do not match its input
    /// channels, Gemm with transA or beta 0).
    /// </summary>
    public static double[]? OutputShift(NodeProto node, long[] weightDims, ReadOnlySpan<float> errors, double[] inputMeans)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(weightDims);
        ArgumentNullException.ThrowIfNull(inputMeans);
        if (node.OpType == "Conv" && weightDims.Length >= 3)
        {
            var outputs = (int)weightDims[0];
            var perGroup = (int)weightDims[1];
            var window = (int)weightDims.Skip(2).Aggregate(1L, (product, dimension) => product * dimension);
            var groups = (int)(node.Attribute.FirstOrDefault(attribute => attribute.Name == "group")?.I ?? 1);
            if (groups < 1 || outputs % groups != 0 || perGroup * groups != inputMeans.Length)
            {
                return null;
            }

            var outputsPerGroup = outputs / groups;
            var shift = new double[outputs];
            for (var o = 0; o < outputs; o++)
            {
                var firstInput = o / outputsPerGroup * perGroup;
                double sum = 0;
                for (var c = 0; c < perGroup; c++)
                {
                    double windowSum = 0;
                    var offset = ((o * perGroup) + c) * window;
                    for (var k = 0; k < window; k++)
                    {
                        windowSum += errors[offset + k];
                    }

                    sum += windowSum * inputMeans[firstInput + c];
                }

                shift[o] = sum;
            }

            return shift;
        }

        if (node.OpType == "Gemm" && weightDims.Length == 2)
        {
            float Attribute(string name, float fallback) => node.Attribute.FirstOrDefault(attribute => attribute.Name == name)?.F ?? fallback;
            long Flag(string name) => node.Attribute.FirstOrDefault(attribute => attribute.Name == name)?.I ?? 0;
            var alpha = Attribute("alpha", 1f);
            var beta = Attribute("beta", 1f);
            if (Flag("transA") != 0 || beta == 0f)
            {
                return null;
            }

            var transB = Flag("transB") != 0;
            var outputs = (int)(transB ? weightDims[0] : weightDims[1]);
            var inputs = (int)(transB ? weightDims[1] : weightDims[0]);
            if (inputs != inputMeans.Length)
            {
                return null;
            }

            var shift = new double[outputs];
            for (var o = 0; o < outputs; o++)
            {
                double sum = 0;
                for (var k = 0; k < inputs; k++)
                {
                    sum += errors[transB ? (o * inputs) + k : (k * outputs) + o] * inputMeans[k];
                }

                // Y = alpha A B + beta C: a shift of alpha s in Y is a shift of alpha s / beta in C.
                shift[o] = sum * alpha / beta;
            }

            return shift;
        }

        return null;
    }
}

/// <summary>
/// Streams per-channel means (axis 1: NCHW channels, or a Gemm input's features) of some tensors over the calibration
/// set, in double and in input order, so the result does not depend on threads or batching.
/// </summary>
public sealed class ChannelMeanCollector(IEnumerable<string> tensors)
{
    private readonly Dictionary<string, (double[] Sums, long Count)> _sums =
        tensors.Distinct(StringComparer.Ordinal).ToDictionary(tensor => tensor, _ => (Array.Empty<double>(), 0L), StringComparer.Ordinal);

    public IReadOnlyCollection<string> Tensors => _sums.Keys;

    /// <summary>Adds one value of <paramref name="tensor"/> with shape <paramref name="shape"/> (rank 2 or more).</summary>
    public void Observe(string tensor, ReadOnlySpan<float> values, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (!_sums.TryGetValue(tensor, out var entry) || shape.Count < 2)
        {
            return;
        }

        var channels = (int)shape[1];
        var inner = shape.Skip(2).Aggregate(1L, (product, dimension) => product * dimension);
        var sums = entry.Sums.Length == channels ? entry.Sums : new double[channels];
        if (entry.Sums.Length != 0 && entry.Sums.Length != channels)
        {
            throw new QuantizationException($"Tensor '{tensor}' changed from {entry.Sums.Length} to {channels} channels between calibration inputs.");
        }

        for (var i = 0; i < values.Length; i++)
        {
            var value = values[i];
            if (float.IsFinite(value))
            {
                sums[(int)(i / inner % channels)] += value;
            }
        }

        _sums[tensor] = (sums, entry.Count + (values.Length / channels));
    }

    /// <summary>The means per tensor (tensors never observed are left out).</summary>
    public IReadOnlyDictionary<string, double[]> Means() =>
        _sums.Where(entry => entry.Value.Count > 0)
            .ToDictionary(entry => entry.Key, entry => entry.Value.Sums.Select(sum => sum / entry.Value.Count).ToArray(), StringComparer.Ordinal);
}
