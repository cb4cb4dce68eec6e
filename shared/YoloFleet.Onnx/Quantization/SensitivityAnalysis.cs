using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>How much the final outputs move when one node alone (its weights and its output) is quantized.</summary>
public sealed record LayerSensitivity(string Node, string OpType, double Cosine);

/// <summary>
/// Quantizes one node at a time (its weights and its output tensor; everything else FP32), runs the model on a few
/// calibration inputs and measures the final outputs' cosine similarity to FP32. The worst nodes come first.
/// </summary>
public static class SensitivityAnalysis
{
    public static IReadOnlyList<LayerSensitivity> Rank(
        ModelProto prepared, QuantizationPlan plan, IReadOnlyDictionary<string, TensorRange> ranges, QuantizerOptions options,
        ICalibrationSet calibration, Action<string> progress, IReadOnlyDictionary<string, double[]>? inputChannelMeans = null)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(ranges);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(progress);
        var graph = prepared.Graph;
        var candidates = graph.Node
            .Where(node => plan.QuantizedNodes.Contains(node.Name))
            .ToList();
        var samples = Math.Min(Math.Min(options.ComparisonSamples, 4), calibration.Count);
        var (inputName, shape) = ActivationCalibrator.SingleFloatInput(graph);
        var outputNames = graph.Output.Select(output => output.Name).ToArray();
        var inputs = new float[samples][];
        for (var i = 0; i < samples; i++)
        {
            inputs[i] = new float[shape.Aggregate(1L, (product, dimension) => product * dimension)];
            calibration.Read(i, inputs[i]);
        }

        // Basic optimisation only: hundreds of sessions are created, and the unfused QDQ graph computes what the fused one does to within rounding.
        using var sessionOptions = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        var reference = Run(prepared, sessionOptions, inputName, shape, inputs, outputNames);
        var allQuantized = plan.QuantizedNodes.ToHashSet(StringComparer.Ordinal);
        var results = new List<LayerSensitivity>(candidates.Count);
        for (var c = 0; c < candidates.Count; c++)
        {
            var node = candidates[c];
            var others = allQuantized.Where(name => name != node.Name).Order(StringComparer.Ordinal).ToList();
            var single = QuantizationPlan.Create(graph, [.. options.ExcludeNodes, .. others], options.ExcludeOpTypes, options.QuantizeDecodeTail);
            var model = QdqModelBuilder.Build(prepared, single, ranges, options.ActivationType, options.PerChannel, inputChannelMeans).Model;
            var outputs = Run(model, sessionOptions, inputName, shape, inputs, outputNames);
            results.Add(new LayerSensitivity(node.Name, node.OpType, Cosine(reference, outputs)));
            if ((c + 1) % 25 == 0 || c + 1 == candidates.Count)
            {
                progress(string.Create(CultureInfo.InvariantCulture, $"sensitivity: {c + 1}/{candidates.Count} nodes measured"));
            }
        }

        // Worst first; equal figures keep graph order, so the ranking is deterministic.
        return [.. results.Select((result, index) => (result, index)).OrderBy(entry => entry.result.Cosine).ThenBy(entry => entry.index).Select(entry => entry.result)];
    }

    private static float[][][] Run(ModelProto model, SessionOptions options, string inputName, long[] shape, float[][] inputs, string[] outputNames)
    {
        using var session = new InferenceSession(model.ToByteArray(), options);
        var results = new float[inputs.Length][][];
        for (var i = 0; i < inputs.Length; i++)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(inputs[i], shape);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, [inputName], [value], outputNames);
            results[i] = [.. outputs.Select(output => output.GetTensorDataAsSpan<float>().ToArray())];
        }

        return results;
    }

    /// <summary>Mean over outputs of the cosine over all samples' values.</summary>
    private static double Cosine(float[][][] reference, float[][][] actual)
    {
        var outputs = reference[0].Length;
        double total = 0;
        for (var o = 0; o < outputs; o++)
        {
            double dot = 0, left = 0, right = 0;
            for (var s = 0; s < reference.Length; s++)
            {
                var a = reference[s][o];
                var b = actual[s][o];
                for (var i = 0; i < a.Length; i++)
                {
                    dot += (double)a[i] * b[i];
                    left += (double)a[i] * a[i];
                    right += (double)b[i] * b[i];
                }
            }

            total += left > 0 && right > 0 ? dot / Math.Sqrt(left * right) : 1;
        }

        return total / outputs;
    }
}
