using System.Globalization;
using System.Text;
using System.Text.Json;

namespace YoloFleet.Onnx.Quantization;

/// <summary>One activation tensor as quantized: its calibrated range and its error against FP32.</summary>
public sealed record ActivationQuantization(string Tensor, float Min, float Max, string? SharesScaleWith, double? Cosine, double? SqnrDb);

/// <summary>A before/after figure (latency, size, mAP).</summary>
public sealed record BeforeAfter(double Before, double After);

/// <summary>One accuracy check during quantization: how many layers were auto-excluded, and what it measured.</summary>
public sealed record AccuracyStep(int AutoExcluded, AccuracyMeasurement Measurement);

/// <summary>What a quantization did, for the JSON file and the readable table beside the model.</summary>
public sealed class QuantizationReport
{
    public string? Fp32Model { get; set; }

    public string? Int8Model { get; set; }

    public string? Int8Sha256 { get; set; }

    public CalibrationMethod Method { get; init; }

    public double? Percentile { get; init; }

    public QuantizedType ActivationType { get; init; }

    public bool PerChannel { get; init; }

    /// <summary>Whether biases were corrected for the mean shift of weight rounding (<see cref="BiasCorrection"/>).</summary>
    public bool BiasCorrected { get; init; }

    /// <summary>Conv pairs rescaled by cross-layer equalization before calibration (<see cref="CrossLayerEqualization"/>); null when it was off.</summary>
    public int? EqualizedPairs { get; init; }

    public required string Calibration { get; init; }

    public int CalibrationInputs { get; init; }

    public IReadOnlyList<string> Preparation { get; init; } = [];

    public int QuantizedNodes { get; init; }

    public int TotalNodes { get; init; }

    public IReadOnlyList<FloatNode> FloatNodes { get; init; } = [];

    public IReadOnlyList<WeightQuantization> Weights { get; init; } = [];

    public IReadOnlyList<ActivationQuantization> Activations { get; init; } = [];

    /// <summary>Final outputs against FP32 on the comparison inputs (fully fused runs).</summary>
    public IReadOnlyList<TensorError> Outputs { get; init; } = [];

    public IReadOnlyList<LayerSensitivity> Sensitivity { get; init; } = [];

    public IReadOnlyList<string> AutoExcluded { get; init; } = [];

    /// <summary>What the accuracy guard measured on (null: no guard ran).</summary>
    public string? AccuracyCheck { get; init; }

    /// <summary>The largest loss the guard accepted.</summary>
    public double? AccuracyGuard { get; init; }

    /// <summary>Each check the guard made, in order; the last is the model written.</summary>
    public IReadOnlyList<AccuracyStep> AccuracySteps { get; init; } = [];

    /// <summary>Whether the model written passed the guard (null: no guard ran).</summary>
    public bool? AccuracyGuardPassed => AccuracySteps.Count == 0 ? null : AccuracySteps[^1].Measurement.Loss <= AccuracyGuard;

    public BeforeAfter? FileBytes { get; set; }

    /// <summary>Median frame latency in ms (yolofleet bench's pipeline), FP32 then INT8, measured alternately in one run.</summary>
    public BeforeAfter? LatencyMs { get; set; }

    public BeforeAfter? MeanAp { get; set; }

    public BeforeAfter? MeanAp50 { get; set; }

    public string? Evaluation { get; set; }

    /// <summary>The largest mAP@[.5:.95] loss against FP32 that counts as keeping the model's accuracy.</summary>
    public const double MeanApTolerance = 0.010;

    /// <summary>Whether INT8 kept mAP@[.5:.95] within <see cref="MeanApTolerance"/> of FP32; null when not evaluated.</summary>
    public bool? MeanApWithinTolerance => MeanAp is { } map ? map.Before - map.After <= MeanApTolerance : null;

    /// <summary>One line for people: the mAP change and whether it is within the tolerance, or that it was not measured.</summary>
    public string AccuracyVerdict => MeanAp is { } map
        ? string.Create(
            CultureInfo.InvariantCulture,
            $"mAP@[.5:.95] {map.Before:F4} -> {map.After:F4} ({map.After - map.Before:+0.0000;-0.0000}) on {Evaluation}: {(MeanApWithinTolerance == true ? "within" : "OUTSIDE")} the {MeanApTolerance:F3} tolerance")
        : "accuracy not evaluated (no labelled held-out images); check it with --eval DIR";

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("fp32Model", Fp32Model);
            writer.WriteString("int8Model", Int8Model);
            writer.WriteString("int8Sha256", Int8Sha256);
            writer.WriteString("method", Method.ToString().ToLowerInvariant());
            if (Percentile is { } percentile)
            {
                writer.WriteNumber("percentile", percentile);
            }

            writer.WriteString("activationType", ActivationType.ToString().ToLowerInvariant());
            writer.WriteBoolean("perChannel", PerChannel);
            writer.WriteBoolean("biasCorrection", BiasCorrected);
            if (EqualizedPairs is { } equalizedPairs)
            {
                writer.WriteNumber("equalizedPairs", equalizedPairs);
            }

            writer.WriteString("calibration", Calibration);
            writer.WriteNumber("calibrationInputs", CalibrationInputs);
            writer.WriteStartArray("preparation");
            foreach (var change in Preparation)
            {
                writer.WriteStringValue(change);
            }

            writer.WriteEndArray();
            writer.WriteNumber("quantizedNodes", QuantizedNodes);
            writer.WriteNumber("totalNodes", TotalNodes);
            WritePair(writer, "fileBytes", FileBytes);
            WritePair(writer, "latencyMs", LatencyMs);
            WritePair(writer, "mAP", MeanAp);
            WritePair(writer, "mAP50", MeanAp50);
            writer.WriteString("evaluation", Evaluation);
            if (MeanApWithinTolerance is { } within)
            {
                writer.WriteBoolean("mAPWithinTolerance", within);
                writer.WriteNumber("mAPTolerance", MeanApTolerance);
            }

            if (AccuracyCheck is not null)
            {
                writer.WriteStartObject("accuracyGuard");
                writer.WriteString("check", AccuracyCheck);
                writer.WriteNumber("guard", AccuracyGuard ?? 0);
                if (AccuracyGuardPassed is { } passed)
                {
                    writer.WriteBoolean("passed", passed);
                }

                writer.WriteStartArray("steps");
                foreach (var step in AccuracySteps)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("autoExcluded", step.AutoExcluded);
                    writer.WriteString("metric", step.Measurement.Metric);
                    writer.WriteNumber("fp32", step.Measurement.Fp32);
                    writer.WriteNumber("int8", step.Measurement.Int8);
                    writer.WriteNumber("loss", step.Measurement.Loss);
                    writer.WriteNumber("frames", step.Measurement.Frames);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteStartArray("outputs");
            foreach (var output in Outputs)
            {
                WriteError(writer, output.Tensor, output.Cosine, output.SqnrDb);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("floatNodes");
            foreach (var node in FloatNodes)
            {
                writer.WriteStartObject();
                writer.WriteString("name", node.Name);
                writer.WriteString("opType", node.OpType);
                writer.WriteString("reason", node.Reason);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteStartArray("autoExcluded");
            foreach (var name in AutoExcluded)
            {
                writer.WriteStringValue(name);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("weights");
            foreach (var weight in Weights)
            {
                writer.WriteStartObject();
                writer.WriteString("node", weight.Node);
                writer.WriteString("opType", weight.OpType);
                writer.WriteString("weight", weight.Weight);
                writer.WriteNumber("channels", weight.Channels);
                writer.WriteBoolean("perChannel", weight.PerChannel);
                writer.WriteNumber("sqnrDb", Math.Round(weight.SqnrDb, 2));
                if (weight.BiasShift is { } shift)
                {
                    writer.WriteNumber("biasShift", shift);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteStartArray("activations");
            foreach (var activation in Activations)
            {
                writer.WriteStartObject();
                writer.WriteString("tensor", activation.Tensor);
                writer.WriteNumber("min", activation.Min);
                writer.WriteNumber("max", activation.Max);
                if (activation.SharesScaleWith is { } source)
                {
                    writer.WriteString("sharesScaleWith", source);
                }

                if (activation.Cosine is { } cosine)
                {
                    writer.WriteNumber("cosine", Math.Round(cosine, 6));
                }

                if (activation.SqnrDb is { } sqnr)
                {
                    writer.WriteNumber("sqnrDb", Math.Round(sqnr, 2));
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteStartArray("sensitivity");
            foreach (var layer in Sensitivity)
            {
                writer.WriteStartObject();
                writer.WriteString("node", layer.Node);
                writer.WriteString("opType", layer.OpType);
                writer.WriteNumber("outputCosine", Math.Round(layer.Cosine, 6));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>The readable summary: settings, before/after figures, FP32 nodes, and the worst tensors.</summary>
    public string ToTable(int worst = 15)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant, $"model        {Fp32Model} -> {Int8Model}");
        text.AppendLine(invariant, $"method       {Method.ToString().ToLowerInvariant()}{(Percentile is { } p ? string.Create(invariant, $" {p}") : "")}, activations {ActivationType.ToString().ToLowerInvariant()}, weights int8 {(PerChannel ? "per channel" : "per tensor")}{(BiasCorrected ? ", bias correction" : "")}{(EqualizedPairs is { } pairs ? string.Create(invariant, $", {pairs} Conv pairs equalized") : "")}");
        text.AppendLine(invariant, $"calibration {Calibration}");
        text.AppendLine(invariant, $"nodes        {QuantizedNodes} of {TotalNodes} quantized, {FloatNodes.Count} computing nodes in FP32");
        text.AppendLine();
        text.AppendLine("                      FP32        INT8      ratio");
        AppendPair(text, "file bytes", FileBytes, "F0");
        AppendPair(text, "latency ms (p50)", LatencyMs, "F2");
        AppendPair(text, "mAP@[.5:.95]", MeanAp, "F4");
        AppendPair(text, "mAP@.5", MeanAp50, "F4");
        text.AppendLine(invariant, $"accuracy     {AccuracyVerdict}");
        if (AccuracyCheck is not null)
        {
            var steps = string.Join(", ", AccuracySteps.Select(step => string.Create(invariant, $"{step.AutoExcluded} in FP32: loss {step.Measurement.Loss:F4}")));
            text.AppendLine(invariant, $"guard        {AccuracyCheck}, guard {AccuracyGuard:F4}: {steps} -> {(AccuracyGuardPassed == true ? "passed" : "NOT passed (cap reached)")}");
        }

        text.AppendLine();
        text.AppendLine("outputs against FP32 (fused INT8 model)");
        foreach (var output in Outputs)
        {
            text.AppendLine(invariant, $"  {output.Tensor,-40} cosine {output.Cosine:F5}  SQNR {output.SqnrDb,6:F1} dB");
        }

        text.AppendLine();
        text.AppendLine(invariant, $"worst {worst} activation tensors against FP32 (unfused QDQ run)");
        foreach (var activation in Activations.Where(activation => activation.SqnrDb is not null).OrderBy(activation => activation.SqnrDb).Take(worst))
        {
            text.AppendLine(invariant, $"  {activation.Tensor,-40} cosine {activation.Cosine:F5}  SQNR {activation.SqnrDb,6:F1} dB  range [{activation.Min:G4}, {activation.Max:G4}]");
        }

        text.AppendLine();
        text.AppendLine(invariant, $"worst {worst} weights (quantization alone)");
        foreach (var weight in Weights.OrderBy(weight => weight.SqnrDb).Take(worst))
        {
            text.AppendLine(invariant, $"  {weight.Node,-30} {weight.OpType,-7} SQNR {weight.SqnrDb,6:F1} dB ({weight.Channels} channel scale(s))");
        }

        text.AppendLine();
        text.AppendLine("nodes in FP32");
        foreach (var group in FloatNodes.GroupBy(node => node.Reason))
        {
            text.AppendLine(invariant, $"  {group.Key}: {group.Count()} ({string.Join(", ", group.Take(12).Select(node => $"{node.Name} {node.OpType}"))}{(group.Count() > 12 ? ", ..." : "")})");
        }

        if (Sensitivity.Count > 0)
        {
            text.AppendLine();
            text.AppendLine(invariant, $"most sensitive nodes (one at a time; auto-excluded: {AutoExcluded.Count})");
            foreach (var layer in Sensitivity.Take(worst))
            {
                text.AppendLine(invariant, $"  {layer.Node,-30} {layer.OpType,-8} output cosine {layer.Cosine:F5}{(AutoExcluded.Contains(layer.Node) ? "  (kept FP32)" : "")}");
            }
        }

        return text.ToString();
    }

    private static void AppendPair(StringBuilder text, string label, BeforeAfter? pair, string format)
    {
        if (pair is null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {label,-18} (not measured)");
            return;
        }

        var ratio = pair.Before != 0 ? (pair.After / pair.Before).ToString("F3", CultureInfo.InvariantCulture) : "-";
        text.AppendLine(CultureInfo.InvariantCulture, $"  {label,-18} {pair.Before.ToString(format, CultureInfo.InvariantCulture),10}  {pair.After.ToString(format, CultureInfo.InvariantCulture),10}  {ratio,9}");
    }

    private static void WritePair(Utf8JsonWriter writer, string name, BeforeAfter? pair)
    {
        if (pair is null)
        {
            writer.WriteNull(name);
            return;
        }

        writer.WriteStartObject(name);
        writer.WriteNumber("fp32", pair.Before);
        writer.WriteNumber("int8", pair.After);
        writer.WriteEndObject();
    }

    private static void WriteError(Utf8JsonWriter writer, string tensor, double cosine, double sqnr)
    {
        writer.WriteStartObject();
        writer.WriteString("tensor", tensor);
        writer.WriteNumber("cosine", Math.Round(cosine, 6));
        writer.WriteNumber("sqnrDb", Math.Round(sqnr, 2));
        writer.WriteEndObject();
    }
}
