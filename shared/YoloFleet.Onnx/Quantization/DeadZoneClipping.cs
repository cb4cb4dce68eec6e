using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>
/// Narrows calibrated ranges where the readers of a tensor cannot tell values apart beyond some bound, so the 256
/// levels are spent where they matter. Pre-activation convolution outputs are the case that counts: they often span
/// ±50..400 while the activation after them flattens everything below a few units to (almost) zero.
/// <list type="bullet">
/// <item>read only by Clip(min, max): the range is intersected with [min, max] (exact);</item>
/// <item>read only by Relu: the lower bound is 0 (exact);</item>
/// <item>read only by a hard-swish, x * Clip(x + c, 0, ..) * k: the lower bound is -c, where the output is 0 (exact);</item>
/// <item>read only by a SiLU, x * Sigmoid(x): the lower bound is -8, where |SiLU| &lt; 0.003, below one output step.</item>
/// </list>
/// </summary>
public static class DeadZoneClipping
{
    public const float SiluLowerBound = -8f;

    /// <summary>Narrows <paramref name="ranges"/> in place; returns how many ranges changed.</summary>
    public static int Apply(GraphProto graph, Dictionary<string, TensorRange> ranges)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(ranges);
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var output in node.Output)
            {
                producers[output] = node;
            }

            foreach (var input in node.Input.Distinct(StringComparer.Ordinal))
            {
                if (!consumers.TryGetValue(input, out var list))
                {
                    consumers[input] = list = [];
                }

                list.Add(node);
            }
        }

        float? Scalar(string name) =>
            initializers.TryGetValue(name, out var tensor) && tensor.DataType == (int)TensorProto.Types.DataType.Float && OnnxTensors.ElementCount(tensor) == 1
                ? OnnxTensors.ReadFloats(tensor)[0]
                : null;

        bool IsClipFromZero(string tensor, out float upper)
        {
            upper = float.PositiveInfinity;
            if (!consumers.TryGetValue(tensor, out var readers) || readers.Count != 1 || readers[0].OpType != "Clip")
            {
                return false;
            }

            var clip = readers[0];
            var lower = clip.Input.Count > 1 && clip.Input[1].Length > 0 ? Scalar(clip.Input[1]) : null;
            upper = clip.Input.Count > 2 && clip.Input[2].Length > 0 ? Scalar(clip.Input[2]) ?? float.PositiveInfinity : float.PositiveInfinity;
            return lower == 0f;
        }

        var changed = 0;
        foreach (var (tensor, range) in ranges.OrderBy(entry => entry.Key, StringComparer.Ordinal).ToList())
        {
            if (!consumers.TryGetValue(tensor, out var readers) || readers.Count == 0 || graph.Output.Any(output => output.Name == tensor))
            {
                continue;
            }

            float lower = float.NegativeInfinity, upper = float.PositiveInfinity;
            if (readers.All(reader => reader.OpType == "Clip" && reader.Input[0] == tensor))
            {
                foreach (var clip in readers)
                {
                    var clipLower = clip.Input.Count > 1 && clip.Input[1].Length > 0 ? Scalar(clip.Input[1]) : null;
                    var clipUpper = clip.Input.Count > 2 && clip.Input[2].Length > 0 ? Scalar(clip.Input[2]) : null;
                    if (clipLower is null || clipUpper is null)
                    {
                        lower = float.NegativeInfinity;
                        upper = float.PositiveInfinity;
                        break;
                    }

                    lower = readers.Count == 1 ? clipLower.Value : MathF.Min(lower == float.NegativeInfinity ? clipLower.Value : lower, clipLower.Value);
                    upper = readers.Count == 1 ? clipUpper.Value : MathF.Max(upper == float.PositiveInfinity ? clipUpper.Value : upper, clipUpper.Value);
                }
            }
            else if (readers.All(reader => reader.OpType == "Relu"))
            {
                lower = 0f;
            }
            else if (readers.All(reader => IsSiluPart(reader, tensor, producers)))
            {
                lower = SiluLowerBound;
            }
            else if (HardSwishOffset(readers, tensor, producers, Scalar, IsClipFromZero) is { } offset)
            {
                lower = -offset;
            }

            var narrowed = new TensorRange(MathF.Max(range.Min, lower), MathF.Min(range.Max, upper));
            if (narrowed.Min > narrowed.Max)
            {
                narrowed = new TensorRange(narrowed.Max, narrowed.Max);
            }

            if (narrowed != range)
            {
                ranges[tensor] = narrowed;
                changed++;
            }
        }

        return changed;
    }

    private static bool IsSiluPart(NodeProto reader, string tensor, Dictionary<string, NodeProto> producers)
    {
        if (reader.OpType == "Sigmoid")
        {
            return reader.Input[0] == tensor;
        }

        if (reader.OpType != "Mul" || reader.Input.Count != 2)
        {
            return false;
        }

        var other = reader.Input[0] == tensor ? reader.Input[1] : reader.Input[1] == tensor ? reader.Input[0] : null;
        return other is not null && producers.TryGetValue(other, out var sigmoid) && sigmoid.OpType == "Sigmoid" && sigmoid.Input[0] == tensor;
    }

    private delegate bool ClipTest(string tensor, out float upper);

    /// <summary>For x read only by Add(x, c) -> Clip(0, ..) and by Mul(x, that Clip), the offset c; otherwise null.</summary>
    private static float? HardSwishOffset(
        List<NodeProto> readers, string tensor, Dictionary<string, NodeProto> producers, Func<string, float?> scalar, ClipTest isClipFromZero)
    {
        if (readers.Count != 2)
        {
            return null;
        }

        var add = readers.FirstOrDefault(reader => reader.OpType == "Add");
        var mul = readers.FirstOrDefault(reader => reader.OpType == "Mul");
        if (add is null || mul is null || add.Input.Count != 2 || mul.Input.Count != 2)
        {
            return null;
        }

        var constant = add.Input[0] == tensor ? scalar(add.Input[1]) : scalar(add.Input[0]);
        if (constant is not > 0f || !isClipFromZero(add.Output[0], out _))
        {
            return null;
        }

        var other = mul.Input[0] == tensor ? mul.Input[1] : mul.Input[0];
        return producers.TryGetValue(other, out var clip) && clip.OpType == "Clip" && clip.Input[0] == add.Output[0] ? constant : null;
    }
}
