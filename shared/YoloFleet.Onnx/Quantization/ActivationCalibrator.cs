using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>
/// Runs the FP32 model with the tensors to calibrate exposed as extra outputs, over a calibration set, and streams
/// every value into a <see cref="TensorRangeCollector"/> per tensor: pass 1 min/max, pass 2 (Percentile, Entropy) the
/// histograms. One image's tensors are in memory at a time. When asked, pass 1 also streams the per-channel means that
/// bias correction needs.
/// </summary>
public static class ActivationCalibrator
{
    public static IReadOnlyDictionary<string, TensorRangeCollector> Collect(
        ModelProto prepared, IReadOnlyList<string> tensors, ICalibrationSet calibration, CalibrationMethod method, Action<string>? progress = null,
        ChannelMeanCollector? channelMeans = null)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(calibration);
        if (calibration.Count == 0)
        {
            throw new QuantizationException($"The calibration set ({calibration.Description}) is empty.");
        }

        var (inputName, shape) = SingleFloatInput(prepared.Graph);
        var augmented = prepared.Clone();
        var declared = augmented.Graph.Output.Select(output => output.Name).ToHashSet(StringComparer.Ordinal);
        var inputNames = augmented.Graph.Input.Select(input => input.Name).ToHashSet(StringComparer.Ordinal);
        var fetched = new List<string>();
        foreach (var tensor in tensors.Concat(channelMeans?.Tensors ?? []).Distinct(StringComparer.Ordinal))
        {
            if (inputNames.Contains(tensor))
            {
                continue;
            }

            fetched.Add(tensor);
            if (declared.Add(tensor))
            {
                augmented.Graph.Output.Add(new ValueInfoProto
                {
                    Name = tensor,
                    Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
                });
            }
        }

        var collectors = tensors.Distinct(StringComparer.Ordinal).ToDictionary(tensor => tensor, _ => new TensorRangeCollector(), StringComparer.Ordinal);
        var observeInput = collectors.TryGetValue(inputName, out var inputCollector);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(augmented.ToByteArray(), options);
        using var runOptions = new RunOptions();
        var input = new float[shape.Aggregate(1L, (product, dimension) => product * dimension)];
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        var outputNames = fetched.ToArray();
        var passes = method == CalibrationMethod.MinMax ? 1 : 2;
        for (var pass = 1; pass <= passes; pass++)
        {
            for (var index = 0; index < calibration.Count; index++)
            {
                calibration.Read(index, input);
                if (observeInput)
                {
                    Observe(inputCollector!, input, pass);
                }

                if (pass == 1)
                {
                    channelMeans?.Observe(inputName, input, shape);
                }

                // Only the input may be wanted (a single-layer model): nothing to run then.
                using var outputs = outputNames.Length == 0 ? null : session.Run(runOptions, [inputName], [inputValue], outputNames);
                for (var i = 0; i < outputNames.Length; i++)
                {
                    var values = outputs![i].GetTensorDataAsSpan<float>();
                    if (collectors.TryGetValue(outputNames[i], out var collector))
                    {
                        Observe(collector, values, pass);
                    }

                    if (pass == 1)
                    {
                        channelMeans?.Observe(outputNames[i], values, outputs[i].GetTensorTypeAndShape().Shape);
                    }
                }

                if (progress is not null && ((index + 1) % 16 == 0 || index + 1 == calibration.Count))
                {
                    progress(string.Create(CultureInfo.InvariantCulture, $"calibration pass {pass}/{passes} ({(pass == 1 ? "ranges" : "histograms")}): {index + 1}/{calibration.Count} inputs"));
                }
            }
        }

        return collectors;
    }

    private static void Observe(TensorRangeCollector collector, ReadOnlySpan<float> values, int pass)
    {
        if (pass == 1)
        {
            collector.ObserveRange(values);
        }
        else if (collector.NeedsHistogram)
        {
            collector.ObserveHistogram(values);
        }
    }

    /// <summary>The model's one float input and its fixed shape.</summary>
    /// <exception cref="QuantizationException">The model has several inputs, or an input with an open dimension.</exception>
    public static (string Name, long[] Shape) SingleFloatInput(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var initializers = OnnxGraph.InitializerNames(graph);
        var inputs = graph.Input.Where(input => !initializers.Contains(input.Name)).ToList();
        if (inputs.Count != 1)
        {
            throw new QuantizationException($"The model has {inputs.Count} inputs ({string.Join(", ", inputs.Select(input => input.Name))}); calibration feeds models with one image input.");
        }

        var dims = inputs[0].Type?.TensorType?.Shape?.Dim;
        if (dims is null || dims.Count == 0 || dims.Any(dimension => dimension.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || dimension.DimValue <= 0))
        {
            throw new QuantizationException($"Input '{inputs[0].Name}' has no fixed shape; export the model with a fixed input size.");
        }

        return (inputs[0].Name, [.. dims.Select(dimension => dimension.DimValue)]);
    }
}
