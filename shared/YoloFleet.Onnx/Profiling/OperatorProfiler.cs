using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using YoloFleet.Inference;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Profiling;

/// <summary>One operator type's kernels as the runtime ran them (after its graph fusions), per run.</summary>
public sealed record OperatorTime(string OpType, int Nodes, double MillisecondsPerRun);

/// <summary>
/// The convolutions of one kind (<c>depthwise</c>, <c>pointwise</c> 1x1, <c>dense</c> kxk, <c>grouped</c>), by the
/// model's Conv nodes they came from, float or integer alike.
/// </summary>
public sealed record ConvolutionTime(string Kind, int Nodes, double MillisecondsPerRun);

/// <summary>Where one model's run time goes, from ONNX Runtime's own profiler (<c>SessionOptions.EnableProfiling</c>).</summary>
public sealed record OperatorProfile(
    string Model, int Runs, int Threads, bool Spinning, double WallMillisecondsPerRun, double KernelMillisecondsPerRun,
    IReadOnlyList<OperatorTime> Operators, IReadOnlyList<ConvolutionTime> Convolutions)
{
    /// <summary>Initializers the model listed as graph inputs, removed before profiling (PicoDet's export has 300+).</summary>
    public int InitializerInputsRemoved { get; init; }

    /// <summary>A readable table: operators by time, then convolutions by kind.</summary>
    public string ToTable()
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(string.Create(invariant, $"{Model}: {Runs} runs, {Threads} threads, spinning {(Spinning ? "on" : "off")}"));
        text.AppendLine(string.Create(invariant, $"  wall {WallMillisecondsPerRun:F2} ms/run (profiling on), kernels {KernelMillisecondsPerRun:F2} ms/run"));
        if (InitializerInputsRemoved > 0)
        {
            text.AppendLine(string.Create(invariant, $"  ({InitializerInputsRemoved} initializers listed as graph inputs were removed first, as quantize's latency baseline does)"));
        }

        text.AppendLine("  operator                   nodes   ms/run  share");
        foreach (var op in Operators)
        {
            text.AppendLine(string.Create(invariant, $"  {op.OpType,-25} {op.Nodes,6} {op.MillisecondsPerRun,8:F2} {Share(op.MillisecondsPerRun),5:F0}%"));
        }

        text.AppendLine("  convolutions by kind       nodes   ms/run  share");
        foreach (var kind in Convolutions)
        {
            text.AppendLine(string.Create(invariant, $"  {kind.Kind,-25} {kind.Nodes,6} {kind.MillisecondsPerRun,8:F2} {Share(kind.MillisecondsPerRun),5:F0}%"));
        }

        return text.ToString();
    }

    private double Share(double milliseconds) => KernelMillisecondsPerRun > 0 ? 100 * milliseconds / KernelMillisecondsPerRun : 0;
}

/// <summary>
/// Runs a model with ONNX Runtime's profiler on and sums its kernel times by operator type, and the convolutions by
/// kind (mapped back to the model's Conv nodes through the names the runtime gives fused nodes). This is how
/// docs/quantization.md explains where INT8 gains and loses against FP32.
/// </summary>
public static partial class OperatorProfiler
{
    /// <summary>
    /// Profiles <paramref name="modelPath"/> with the detector's session settings on a fixed random input; the warm-up
    /// runs count in the times too (ONNX Runtime profiles every run), which are per run over all of them.
    /// </summary>
    /// <exception cref="ArgumentException">The model's inputs are not one float tensor with fixed dimensions (batch aside).</exception>
    public static OperatorProfile Profile(string modelPath, DetectorOptions options, int runs, int warmup = 5) =>
        Profile([modelPath], options, runs, warmup)[0];

    /// <summary>
    /// Profiles several models in one process, one run of each in turn, so that a shared machine's drifting load falls
    /// on all of them alike and their ratios hold (profiled one after another, the same pair moved from 0.9x to 1.7x).
    /// </summary>
    /// <exception cref="ArgumentException">A model's inputs are not float tensors with fixed dimensions (batch aside).</exception>
    public static IReadOnlyList<OperatorProfile> Profile(IReadOnlyList<string> modelPaths, DetectorOptions options, int runs, int warmup = 5)
    {
        ArgumentNullException.ThrowIfNull(modelPaths);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        var folder = Directory.CreateTempSubdirectory("yolofleet-profile-").FullName;
        var sessions = new List<(string Path, ModelProto Model, int Repaired, SessionOptions Options, InferenceSession Session, List<NamedOnnxValue> Inputs)>();
        try
        {
            foreach (var (modelPath, index) in modelPaths.Select((path, index) => (path, index)))
            {
                var model = OnnxModelFile.Load(modelPath);

                // As quantize's latency baseline: old exports that list weights as inputs are not constant-folded otherwise.
                var repaired = OnnxModelFile.RemoveInitializersFromInputs(model);
                var sessionOptions = options.ToSessionOptions();

                // The prefix first: setting EnableProfiling passes the prefix it holds at that moment to the runtime.
                sessionOptions.ProfileOutputPathPrefix = Path.Combine(folder, $"model{index}");
                sessionOptions.EnableProfiling = true;
                InferenceSession session;
                try
                {
                    session = new InferenceSession(model.ToByteArray(), sessionOptions);
                }
                catch
                {
                    sessionOptions.Dispose();
                    throw;
                }

                sessions.Add((modelPath, model, repaired, sessionOptions, session, []));
                sessions[^1].Inputs.AddRange(RandomInputs(session, modelPath));
            }

            var wall = new double[sessions.Count];
            for (var i = -warmup; i < runs; i++)
            {
                for (var m = 0; m < sessions.Count; m++)
                {
                    var started = Stopwatch.GetTimestamp();
                    using var _ = sessions[m].Session.Run(sessions[m].Inputs);
                    if (i >= 0)
                    {
                        wall[m] += Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }
                }
            }

            var profiles = new List<OperatorProfile>();
            for (var m = 0; m < sessions.Count; m++)
            {
                var file = sessions[m].Session.EndProfiling();
                var path = Path.IsPathRooted(file) ? file : Path.Combine(Directory.GetCurrentDirectory(), file);
                OperatorProfile profile;
                using (var stream = File.OpenRead(path))
                {
                    profile = Parse(stream, sessions[m].Model, warmup + runs);
                }

                File.Delete(path);
                profiles.Add(profile with
                {
                    Runs = runs,
                    InitializerInputsRemoved = sessions[m].Repaired,
                    Model = Path.GetFileName(sessions[m].Path),
                    Threads = options.IntraOpThreads,
                    Spinning = options.AllowSpinning,
                    WallMillisecondsPerRun = wall[m] / runs,
                });
            }

            return profiles;
        }
        finally
        {
            foreach (var entry in sessions)
            {
                entry.Session.Dispose();
                entry.Options.Dispose();
            }

            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Sums an ONNX Runtime profile (the JSON array of trace events <c>EndProfiling</c> writes) over its
    /// <paramref name="runs"/> runs. Node events are named <c>NODE_kernel_time</c>; a node the runtime made is named
    /// after the node it replaced (QDQ fusion keeps the Conv's name, the layout transformer adds <c>_token_N</c>) or after
    /// the tensor it writes (the NCHWc transformer: the Conv's output, or its fused activation's, plus <c>_nchwc</c>).
    /// </summary>
    public static OperatorProfile Parse(Stream profileJson, ModelProto model, int runs)
    {
        ArgumentNullException.ThrowIfNull(profileJson);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var kinds = ConvolutionKinds(model.Graph);
        var byOperator = new Dictionary<string, (HashSet<string> Nodes, double Microseconds)>(StringComparer.Ordinal);
        var byKind = new Dictionary<string, (HashSet<string> Nodes, double Microseconds)>(StringComparer.Ordinal);
        using var document = JsonDocument.Parse(profileJson);
        foreach (var trace in document.RootElement.EnumerateArray())
        {
            if (!trace.TryGetProperty("cat", out var category) || category.GetString() != "Node"
                || trace.GetProperty("name").GetString() is not { } name || !name.EndsWith("_kernel_time", StringComparison.Ordinal)
                || !trace.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var opName))
            {
                continue;
            }

            var node = name[..^"_kernel_time".Length];
            var op = opName.GetString() ?? "?";
            var microseconds = trace.GetProperty("dur").GetDouble();
            Add(byOperator, op, node, microseconds);
            if (ModelNodeName(node) is var original && kinds.TryGetValue(original, out var kind))
            {
                Add(byKind, kind.Kind, kind.Conv, microseconds);
            }
        }

        var operators = byOperator.Select(entry => new OperatorTime(entry.Key, entry.Value.Nodes.Count, entry.Value.Microseconds / runs / 1000))
            .OrderByDescending(op => op.MillisecondsPerRun).ThenBy(op => op.OpType, StringComparer.Ordinal).ToList();
        var convolutions = byKind.Select(entry => new ConvolutionTime(entry.Key, entry.Value.Nodes.Count, entry.Value.Microseconds / runs / 1000))
            .OrderByDescending(kind => kind.MillisecondsPerRun).ThenBy(kind => kind.Kind, StringComparer.Ordinal).ToList();
        return new OperatorProfile("", runs, 0, false, 0, operators.Sum(op => op.MillisecondsPerRun), operators, convolutions);
    }

    private static void Add(Dictionary<string, (HashSet<string> Nodes, double Microseconds)> totals, string key, string node, double microseconds)
    {
        if (!totals.TryGetValue(key, out var total))
        {
            total = (new HashSet<string>(StringComparer.Ordinal), 0);
        }

        total.Nodes.Add(node);
        totals[key] = (total.Nodes, total.Microseconds + microseconds);
    }

    private static string ModelNodeName(string runtimeName) => RuntimeSuffix().Replace(runtimeName, "");

    /// <summary>
    /// Every Conv's kind, under its node name, its output's name, and the output of an activation that reads only it
    /// (the names the runtime's fused nodes carry).
    /// </summary>
    private static Dictionary<string, (string Kind, string Conv)> ConvolutionKinds(GraphProto graph)
    {
        var initializers = graph.Initializer.ToDictionary(tensor => tensor.Name, StringComparer.Ordinal);

        // A quantized model's weights come from an int8 initializer of the same shape, through a DequantizeLinear
        // (integer kernels) or a Cast and a Mul by the scales (float kernels).
        foreach (var node in graph.Node.Where(node => node.OpType is "DequantizeLinear" or "Cast" or "Mul" && node.Input.Count > 0 && initializers.ContainsKey(node.Input[0])))
        {
            initializers.TryAdd(node.Output[0], initializers[node.Input[0]]);
        }

        var kinds = new Dictionary<string, (string Kind, string Conv)>(StringComparer.Ordinal);
        var convOutputs = new Dictionary<string, (string Kind, string Conv)>(StringComparer.Ordinal);
        foreach (var node in graph.Node.Where(node => node.OpType == "Conv" && node.Input.Count > 1))
        {
            var group = node.Attribute.FirstOrDefault(attribute => attribute.Name == "group")?.I ?? 1;
            var weightDims = initializers.TryGetValue(node.Input[1], out var weight) ? weight.Dims.ToArray() : [];
            var kind = weightDims.Length < 3 ? "other" : group > 1 && weightDims[1] == 1 ? "depthwise"
                : group > 1 ? "grouped" : weightDims.Skip(2).All(side => side == 1) ? "pointwise 1x1" : "dense kxk";
            var entry = (kind, node.Name);
            kinds.TryAdd(node.Name, entry);
            kinds.TryAdd(node.Output[0], entry);
            convOutputs[node.Output[0]] = entry;
        }

        foreach (var node in graph.Node.Where(node => node.Input.Count == 1 && node.Output.Count == 1 && convOutputs.ContainsKey(node.Input[0])))
        {
            kinds.TryAdd(node.Output[0], convOutputs[node.Input[0]]);
        }

        return kinds;
    }

    private static List<NamedOnnxValue> RandomInputs(InferenceSession session, string modelPath)
    {
        var random = new Random(1);
        var inputs = new List<NamedOnnxValue>();
        foreach (var (name, metadata) in session.InputMetadata)
        {
            if (metadata.ElementType != typeof(float))
            {
                throw new ArgumentException($"{modelPath}: input '{name}' is {metadata.ElementType.Name}; profiling feeds float inputs only.", nameof(modelPath));
            }

            var dims = metadata.Dimensions.Select((dimension, axis) => dimension > 0 ? dimension : axis == 0 ? 1 : -1).ToArray();
            if (dims.Any(dimension => dimension < 0))
            {
                throw new ArgumentException($"{modelPath}: input '{name}' has dynamic dimensions [{string.Join(',', metadata.Dimensions)}]; profiling needs fixed ones.", nameof(modelPath));
            }

            var values = new float[dims.Aggregate(1, (product, dimension) => product * dimension)];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = random.NextSingle();
            }

            inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(values, dims)));
        }

        return inputs;
    }

    [GeneratedRegex("(_token_[0-9]+|_nchwc)$")]
    private static partial Regex RuntimeSuffix();
}
