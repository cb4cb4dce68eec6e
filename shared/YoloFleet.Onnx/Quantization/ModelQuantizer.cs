using System.Globalization;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>What to quantize and how.</summary>
public sealed class QuantizerOptions
{
    /// <summary>
    /// Calibration images taken from a folder by default (the first N by name); the rest of a labelled folder are held
    /// out for the accuracy check. 32 keep both shared models' ranges (docs/quantization.md) and leave most of a small
    /// labelled set for the check.
    /// </summary>
    public const int DefaultCalibrationImages = 32;

    public CalibrationMethod Method { get; set; } = CalibrationMethod.Percentile;

    /// <summary>For <see cref="CalibrationMethod.Percentile"/>: the share of |x| kept inside the range, in percent.</summary>
    public double Percentile { get; set; } = 99.99;

    /// <summary>One weight scale per output channel (Conv, Gemm, MatMul); otherwise one per tensor.</summary>
    public bool PerChannel { get; set; } = true;

    /// <summary>Activation type. UInt8 asymmetric is the default: it runs about 3x faster here than int8 (docs/quantization.md).</summary>
    public QuantizedType ActivationType { get; set; } = QuantizedType.UInt8;

    /// <summary>Node names kept in FP32.</summary>
    public IReadOnlyList<string> ExcludeNodes { get; set; } = [];

    /// <summary>Operator types kept in FP32.</summary>
    public IReadOnlyList<string> ExcludeOpTypes { get; set; } = [];

    /// <summary>Also quantize the decode tail (the last weighted layers and the head arithmetic after them).</summary>
    public bool QuantizeDecodeTail { get; set; }

    /// <summary>
    /// Run the sensitivity analysis and keep the worst layers in FP32 until <see cref="TargetCosine"/> holds. On by default:
    /// without it YOLOX-Nano loses 0.095 mAP (docs/quantization.md), with it both shared models stay within 0.010.
    /// </summary>
    public bool AutoExclude { get; set; } = true;

    /// <summary>The mean cosine similarity of the final outputs to FP32 that auto-exclusion aims for.</summary>
    public double TargetCosine { get; set; } = 0.995;

    /// <summary>
    /// Auto-excluded Conv/Gemm/MatMul keep int8 weights (dequantized at run time) and only their activations in FP32:
    /// the file stays within 30 % of FP32, and both shared models still meet the mAP target (docs/quantization.md).
    /// Off: they stay wholly FP32.
    /// </summary>
    public bool AutoExcludedWeightsInt8 { get; set; } = true;

    /// <summary>
    /// The decode tail's Conv/Gemm/MatMul (kept in FP32 for their activations) store int8 weights, dequantized at run
    /// time into their float computation: the tail's weights are a quarter of the INT8 file otherwise.
    /// </summary>
    public bool TailWeightsInt8 { get; set; } = true;

    /// <summary>
    /// Empirical bias correction: take the mean output shift that weight rounding causes, (W_q - W) . E[x] with E[x]
    /// the per-channel input means over the calibration set, off each quantized layer's bias (docs/quantization.md).
    /// </summary>
    public bool BiasCorrection { get; set; }

    /// <summary>
    /// Cross-layer equalization before calibration: balance the weight ranges of Conv pairs joined by nothing or a
    /// positively homogeneous op (Relu, LeakyRelu, Identity, MaxPool), an exact FP32 rewrite (docs/quantization.md).
    /// </summary>
    public bool Equalize { get; set; }

    /// <summary>The most layers auto-exclusion keeps in FP32.</summary>
    public int MaxAutoExcluded { get; set; } = 24;

    /// <summary>
    /// Auto-exclusion stops once the last this-many exclusions together raised the output cosine by less than
    /// <see cref="PlateauGain"/>, and keeps the best count among them: each FP32 layer costs time. 0 turns it off.
    /// </summary>
    public int PlateauWindow { get; set; } = 4;

    /// <summary>The cosine gain over <see cref="PlateauWindow"/> exclusions below which auto-exclusion stops.</summary>
    public double PlateauGain { get; set; } = 0.002;

    /// <summary>
    /// Measures the candidate's accuracy loss on frames held out from calibration. With auto-exclusion on, the quantizer
    /// keeps more of the most sensitive layers in FP32 while the loss is above the check's guard (after the cosine
    /// search), in steps of <see cref="GuardStep"/> up to <see cref="MaxAutoExcluded"/>. Null: no check.
    /// </summary>
    public IAccuracyCheck? AccuracyCheck { get; set; }

    /// <summary>Layers added to FP32 per step while the accuracy check fails.</summary>
    public int GuardStep { get; set; } = 3;

    /// <summary>Inputs (from the calibration set) used to compare outputs and rank layers.</summary>
    public int ComparisonSamples { get; set; } = 8;

    public void Validate()
    {
        if (!(Percentile is > 50 and <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(Percentile), Percentile, "The percentile must be above 50 and at most 100.");
        }

        if (!(TargetCosine is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TargetCosine), TargetCosine, "The target cosine must be in (0, 1].");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(ComparisonSamples, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxAutoExcluded);
        ArgumentOutOfRangeException.ThrowIfNegative(PlateauWindow);
        ArgumentOutOfRangeException.ThrowIfNegative(PlateauGain);
        ArgumentOutOfRangeException.ThrowIfLessThan(GuardStep, 1);
    }
}

/// <summary>The quantized model and what happened.</summary>
public sealed record QuantizationResult(ModelProto Model, QuantizationReport Report);

/// <summary>
/// FP32 ONNX model in, INT8 QDQ model out: prepare the graph, plan which nodes run quantized, calibrate activation
/// ranges on the calibration set, write QuantizeLinear/DequantizeLinear pairs and 8-bit weights, then compare the
/// result with FP32 (and, when asked, keep the most sensitive layers in FP32). Deterministic: the same model, data and
/// options give the same bytes.
/// </summary>
public static class ModelQuantizer
{
    public static QuantizationResult Quantize(ModelProto fp32, ICalibrationSet calibration, QuantizerOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(fp32);
        ArgumentNullException.ThrowIfNull(calibration);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        progress ??= _ => { };

        var prepared = fp32.Clone();
        var changes = ModelPreparation.Prepare(prepared);
        foreach (var change in changes)
        {
            progress("prepare: " + change);
        }

        int? equalizedPairs = null;
        if (options.Equalize)
        {
            var equalization = CrossLayerEqualization.Apply(prepared.Graph);
            equalizedPairs = equalization.Pairs.Count;
            progress(equalization.Describe());
            changes = [.. changes, equalization.Describe()];
        }

        var basePlan = QuantizationPlan.Create(prepared.Graph, options.ExcludeNodes, options.ExcludeOpTypes, options.QuantizeDecodeTail);
        progress($"plan: {basePlan.QuantizedNodes.Count} of {prepared.Graph.Node.Count} nodes quantized, {basePlan.QdqTensors.Count} activation tensors get QDQ");

        var meanCollector = options.BiasCorrection ? new ChannelMeanCollector(Quantization.BiasCorrection.InputTensors(prepared.Graph)) : null;
        var collectors = ActivationCalibrator.Collect(prepared, basePlan.QdqTensors, calibration, options.Method, progress, meanCollector);
        var means = meanCollector?.Means();
        if (means is not null)
        {
            progress($"bias correction: per-channel means of {means.Count} layer inputs");
        }

        // The decode tail's weighted layers compute in FP32 but can store int8 weights (unless excluded by the user).
        var excludedTypes = options.ExcludeOpTypes.ToHashSet(StringComparer.Ordinal);
        var tailWeights = options.TailWeightsInt8 && !options.QuantizeDecodeTail
            ? QuantizationPlan.DecodeTail(prepared.Graph).Except(options.ExcludeNodes, StringComparer.Ordinal)
                .Where(name => prepared.Graph.Node.First(node => node.Name == name) is var node && !excludedTypes.Contains(node.OpType))
                .Order(StringComparer.Ordinal).ToList()
            : [];
        var quantizationLevels = options.ActivationType == QuantizedType.UInt8 ? 256 : 255;
        var ranges = collectors.ToDictionary(
            entry => entry.Key, entry => entry.Value.Range(options.Method, options.Percentile, quantizationLevels), StringComparer.Ordinal);
        var narrowed = DeadZoneClipping.Apply(prepared.Graph, ranges);
        progress($"ranges: {ranges.Count} calibrated ({options.Method.ToString().ToLowerInvariant()}), {narrowed} narrowed to what their readers can tell apart");

        var plan = tailWeights.Count == 0 ? basePlan
            : QuantizationPlan.Create(prepared.Graph, options.ExcludeNodes, options.ExcludeOpTypes, options.QuantizeDecodeTail, weightOnlyNodes: tailWeights);
        var (model, weights, dequantizedNames) = QdqModelBuilder.Build(prepared, plan, ranges, options.ActivationType, options.PerChannel, means);
        var (outputs, _) = OutputComparison.Compare(prepared, model, calibration, options.ComparisonSamples);
        progress(string.Create(CultureInfo.InvariantCulture, $"compare: output cosine {OutputComparison.MeanCosine(outputs):F5} on {Math.Min(options.ComparisonSamples, calibration.Count)} inputs"));

        var sensitivity = new List<LayerSensitivity>();
        var autoExcluded = new List<string>();
        var accuracy = new List<AccuracyStep>();
        AccuracyMeasurement? Check()
        {
            if (options.AccuracyCheck is not { } check)
            {
                return null;
            }

            var measured = check.Measure(model);
            accuracy.Add(new AccuracyStep(autoExcluded.Count, measured));
            progress(string.Create(CultureInfo.InvariantCulture,
                $"accuracy: {autoExcluded.Count} layer(s) auto-excluded: {measured.Metric} {measured.Fp32:F4} -> {measured.Int8:F4} (loss {measured.Loss:F4}, guard {check.Guard:F4})"));
            return measured;
        }

        var cosineMissed = OutputComparison.MeanCosine(outputs) < options.TargetCosine;
        var firstCheck = options.AutoExclude && !cosineMissed ? Check() : null;
        if (options.AutoExclude && (cosineMissed || (firstCheck is { } first && first.Loss > options.AccuracyCheck!.Guard)))
        {
            sensitivity.AddRange(SensitivityAnalysis.Rank(prepared, basePlan, ranges, options, calibration, progress, means));
            // cosines[n]: the output cosine with the n most sensitive layers in FP32.
            var cosines = new List<double> { OutputComparison.MeanCosine(outputs) };
            void Exclude(int count)
            {
                autoExcluded.Clear();
                autoExcluded.AddRange(sensitivity.Take(count).Select(layer => layer.Node));
                plan = QuantizationPlan.Create(
                    prepared.Graph, [.. options.ExcludeNodes, .. autoExcluded], options.ExcludeOpTypes, options.QuantizeDecodeTail,
                    weightOnlyNodes: [.. tailWeights, .. options.AutoExcludedWeightsInt8 ? autoExcluded : []]);
                (model, weights, dequantizedNames) = QdqModelBuilder.Build(prepared, plan, ranges, options.ActivationType, options.PerChannel, means);
                (outputs, _) = OutputComparison.Compare(prepared, model, calibration, options.ComparisonSamples);
            }

            var window = options.PlateauWindow;
            for (var count = 1; count <= Math.Min(options.MaxAutoExcluded, sensitivity.Count); count++)
            {
                Exclude(count);
                var cosine = OutputComparison.MeanCosine(outputs);
                cosines.Add(cosine);
                progress(string.Create(CultureInfo.InvariantCulture, $"auto-exclude: {count} layer(s) in FP32 (last {autoExcluded[^1]}), output cosine {cosine:F5}"));
                if (cosine >= options.TargetCosine)
                {
                    break;
                }

                // Every excluded layer is a float island that costs time; once more of them stop helping, keep the best
                // count of the last window and stop (docs/quantization.md: yolox plateaus after about 7).
                if (window > 0 && count >= window && cosine - cosines[count - window] < options.PlateauGain)
                {
                    var best = Enumerable.Range(count - window, window + 1).MaxBy(n => cosines[n]);
                    if (best != count)
                    {
                        Exclude(best);
                    }

                    progress(string.Create(CultureInfo.InvariantCulture,
                        $"auto-exclude: the last {window} layers raised the cosine by {cosine - cosines[count - window]:F5} (< {options.PlateauGain}); keeping {best} in FP32 (cosine {cosines[best]:F5})"));
                    break;
                }
            }

            // The cosine is a proxy; the check measures what users care about. Keep adding the next most sensitive
            // layers while it says the model lost too much.
            var most = Math.Min(options.MaxAutoExcluded, sensitivity.Count);
            var measured = Check();
            while (measured is not null && measured.Loss > options.AccuracyCheck!.Guard && autoExcluded.Count < most)
            {
                Exclude(Math.Min(most, autoExcluded.Count + options.GuardStep));
                progress($"accuracy: above the guard; {autoExcluded.Count} layer(s) in FP32 now");
                measured = Check();
            }

            // Never passed up to the cap: the measurements are noisy and more FP32 layers do not always measure better,
            // so keep the best step measured (the fewest layers among equals).
            if (measured is not null && measured.Loss > options.AccuracyCheck!.Guard)
            {
                var best = accuracy.OrderBy(step => step.Measurement.Loss).ThenBy(step => step.AutoExcluded).First();
                if (best.AutoExcluded != autoExcluded.Count)
                {
                    Exclude(best.AutoExcluded);
                    accuracy.Add(best);
                    progress($"accuracy: the guard was not reached within {most} layers; keeping the best measured, {best.AutoExcluded} layer(s) in FP32");
                }
            }
        }
        else if (!options.AutoExclude)
        {
            Check();
        }

        var floatNodes = plan.FloatNodes
            .Select(node => autoExcluded.Contains(node.Name)
                ? node with { Reason = plan.WeightOnlyNodes.Contains(node.Name) ? "auto-excluded: sensitivity analysis (float activations, int8 weights)" : "auto-excluded: sensitivity analysis" }
                : plan.WeightOnlyNodes.Contains(node.Name) ? node with { Reason = node.Reason + " (int8 weights)" } : node)
            .ToList();
        // Tensors whose only reader is a Mul folded into a scale have no DequantizeLinear to compare.
        var intermediatePairs = plan.QdqTensors.Where(tensor => !plan.SharedScaleSource.ContainsKey(tensor) && dequantizedNames.ContainsKey(tensor))
            .Select(tensor => (tensor, dequantizedNames[tensor])).ToList();
        var (_, intermediate) = OutputComparison.Compare(prepared, model, calibration, Math.Min(2, options.ComparisonSamples), intermediatePairs);
        progress($"compare: per-tensor errors of {intermediate.Count} activation tensors measured");

        var activations = plan.QdqTensors.Select(tensor =>
        {
            var range = ranges.GetValueOrDefault(tensor);
            var error = intermediate.FirstOrDefault(candidate => candidate.Tensor == tensor);
            return new ActivationQuantization(tensor, range.Min, range.Max, plan.SharedScaleSource.GetValueOrDefault(tensor), error?.Cosine, error?.SqnrDb);
        }).ToList();

        var report = new QuantizationReport
        {
            Method = options.Method,
            Percentile = options.Method == CalibrationMethod.Percentile ? options.Percentile : null,
            ActivationType = options.ActivationType,
            PerChannel = options.PerChannel,
            BiasCorrected = options.BiasCorrection,
            EqualizedPairs = equalizedPairs,
            Calibration = calibration.Description,
            CalibrationInputs = calibration.Count,
            Preparation = changes,
            QuantizedNodes = plan.QuantizedNodes.Count,
            TotalNodes = prepared.Graph.Node.Count,
            FloatNodes = floatNodes,
            Weights = weights,
            Activations = activations,
            Outputs = outputs,
            Sensitivity = sensitivity,
            AutoExcluded = autoExcluded,
            AccuracyCheck = options.AccuracyCheck?.Description,
            AccuracyGuard = options.AccuracyCheck?.Guard,
            AccuracySteps = accuracy,
        };
        return new QuantizationResult(model, report);
    }
}
