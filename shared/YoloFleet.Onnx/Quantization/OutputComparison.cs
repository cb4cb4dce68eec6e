using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>How close one tensor of the quantized model is to the FP32 one, over a few inputs.</summary>
public sealed record TensorError(string Tensor, double Cosine, double SqnrDb);

/// <summary>
/// Runs the FP32 and the quantized model on the same inputs and compares their tensors: cosine similarity and SQNR
/// over all values of all inputs (sums in double, in a fixed order, so the figures are deterministic).
/// </summary>
public static class OutputComparison
{
    /// <summary>
    /// Compares the graph outputs, plus <paramref name="intermediate"/> pairs (FP32 tensor, quantized-model tensor). An
    /// intermediate tensor exposed as an output stops ONNX Runtime fusing around it, so those figures describe the
    /// unfused QDQ graph; the graph outputs are compared on separate, fully fused runs.
    /// </summary>
    public static (IReadOnlyList<TensorError> Outputs, IReadOnlyList<TensorError> Intermediate) Compare(
        ModelProto fp32, ModelProto quantized, ICalibrationSet inputs, int samples, IReadOnlyList<(string Fp32, string Quantized)>? intermediate = null)
    {
        ArgumentNullException.ThrowIfNull(fp32);
        ArgumentNullException.ThrowIfNull(quantized);
        ArgumentNullException.ThrowIfNull(inputs);
        var count = Math.Min(samples, inputs.Count);
        var (inputName, shape) = ActivationCalibrator.SingleFloatInput(fp32.Graph);
        var outputs = fp32.Graph.Output.Select(output => output.Name).ToArray();
        var outputErrors = CompareRuns(fp32, quantized, inputName, shape, inputs, count, outputs, outputs);

        IReadOnlyList<TensorError> intermediateErrors = [];
        if (intermediate is { Count: > 0 })
        {
            var left = WithOutputs(fp32, intermediate.Select(pair => pair.Fp32));
            var right = WithOutputs(quantized, intermediate.Select(pair => pair.Quantized));
            intermediateErrors = CompareRuns(left, right, inputName, shape, inputs, count,
                [.. intermediate.Select(pair => pair.Fp32)], [.. intermediate.Select(pair => pair.Quantized)]);
        }

        return (outputErrors, intermediateErrors);
    }

    /// <summary>The final outputs' mean cosine: one figure for "how close is the quantized model".</summary>
    public static double MeanCosine(IReadOnlyList<TensorError> errors) => errors.Count == 0 ? 1 : errors.Average(error => error.Cosine);

    private static List<TensorError> CompareRuns(
        ModelProto leftModel, ModelProto rightModel, string inputName, long[] shape, ICalibrationSet inputs, int count, string[] leftNames, string[] rightNames)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var left = new InferenceSession(leftModel.ToByteArray(), options);
        using var right = new InferenceSession(rightModel.ToByteArray(), options);
        using var runOptions = new RunOptions();
        var input = new float[shape.Aggregate(1L, (product, dimension) => product * dimension)];
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        var dot = new double[leftNames.Length];
        var leftNorm = new double[leftNames.Length];
        var rightNorm = new double[leftNames.Length];
        var noise = new double[leftNames.Length];
        for (var index = 0; index < count; index++)
        {
            inputs.Read(index, input);
            using var leftValues = left.Run(runOptions, [inputName], [inputValue], leftNames);
            using var rightValues = right.Run(runOptions, [inputName], [inputValue], rightNames);
            for (var t = 0; t < leftNames.Length; t++)
            {
                var a = leftValues[t].GetTensorDataAsSpan<float>();
                var b = rightValues[t].GetTensorDataAsSpan<float>();
                if (a.Length != b.Length)
                {
                    throw new QuantizationException($"Tensor '{leftNames[t]}' has {a.Length} values in the FP32 model and {b.Length} in the quantized one.");
                }

                for (var i = 0; i < a.Length; i++)
                {
                    dot[t] += (double)a[i] * b[i];
                    leftNorm[t] += (double)a[i] * a[i];
                    rightNorm[t] += (double)b[i] * b[i];
                    var difference = (double)a[i] - b[i];
                    noise[t] += difference * difference;
                }
            }
        }

        return [.. leftNames.Select((name, t) => new TensorError(
            name,
            leftNorm[t] > 0 && rightNorm[t] > 0 ? dot[t] / Math.Sqrt(leftNorm[t] * rightNorm[t]) : (leftNorm[t] == rightNorm[t] ? 1 : 0),
            QdqModelBuilder.Sqnr(leftNorm[t], noise[t])))];
    }

    private static ModelProto WithOutputs(ModelProto model, IEnumerable<string> names)
    {
        var copy = model.Clone();
        var declared = copy.Graph.Output.Select(output => output.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names.Where(declared.Add))
        {
            copy.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }

        return copy;
    }
}
