using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet int8-limit`: what INT8 can gain on this machine at best. Plain convolution stacks are built in code,
/// quantized by the project's own quantizer, and timed against their FP32 originals in one run, so the detectors'
/// INT8/FP32 ratio (docs/quantization.md) has a limit to be read against, measured the same way.
/// </summary>
internal static class Int8LimitVerb
{
    private sealed record Stack(string Name, string Activation, bool HalfDepthwise);

    private static readonly Stack[] Stacks =
    [
        new("dense 3x3 + ReLU", "Relu", HalfDepthwise: false),
        new("half depthwise 3x3 + ReLU", "Relu", HalfDepthwise: true),
        new("dense 3x3 + SiLU", "SiLU", HalfDepthwise: false),
        new("half depthwise 3x3 + SiLU", "SiLU", HalfDepthwise: true),
    ];

    public static Command Create()
    {
        var layers = new Option<int>("--layers") { Description = "Convolutions in each stack.", DefaultValueFactory = _ => 8 };
        var channels = new Option<int>("--channels") { Description = "Channels of every layer.", DefaultValueFactory = _ => 64 };
        var size = new Option<int>("--size") { Description = "Feature-map side in pixels.", DefaultValueFactory = _ => 104 };
        var runs = new Option<int>("--runs") { Description = "Timed runs per model (after 10 warm-up runs).", DefaultValueFactory = _ => 100 };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("int8-limit", "Time plain Conv stacks in FP32 and as INT8 from this project's quantizer: the best INT8/FP32 ratio the runtime reaches here.")
        {
            layers, channels, size, runs, threads,
        };
        command.SetAction(parse =>
        {
            var (l, c, s, r, t) = (parse.GetValue(layers), parse.GetValue(channels), parse.GetValue(size), parse.GetValue(runs), parse.GetValue(threads));
            if (l < 1 || c < 1 || s < 4 || r < 1 || t < 1)
            {
                Console.Error.WriteLine("error: --layers, --channels, --runs and --threads must be at least 1, --size at least 4.");
                return 2;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{l} layers, {c} channels, {s}x{s}, batch 1, {t} threads; per-channel int8 weights, uint8 activations, everything quantized; p50 of {r} runs each, alternating"));
            Console.WriteLine($"{"stack",-28} {"FP32 ms",9} {"INT8 ms",9} {"INT8/FP32",10}");
            foreach (var stack in Stacks)
            {
                var fp32 = Build(stack, l, c, s);
                var calibration = new InMemoryCalibrationSet([.. Enumerable.Range(0, 8).Select(seed => Input(c, s, seed))], "random inputs");
                var int8 = ModelQuantizer.Quantize(fp32, calibration, new QuantizerOptions { AutoExclude = false, QuantizeDecodeTail = true, ComparisonSamples = 1 }).Model;
                var (fp32Ms, int8Ms) = TimeAlternately(fp32, int8, Input(c, s, 99), c, s, r, t);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{stack.Name,-28} {fp32Ms,9:F2} {int8Ms,9:F2} {int8Ms / fp32Ms,9:F2}x"));
            }

            return 0;
        });
        return command;
    }

    private static (double Fp32Ms, double Int8Ms) TimeAlternately(ModelProto fp32, ModelProto int8, float[] input, int channels, int size, int runs, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var a = new InferenceSession(fp32.ToByteArray(), options);
        using var b = new InferenceSession(int8.ToByteArray(), options);
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, channels, size, size]);
        using var runOptions = new RunOptions();
        var times = (A: new List<double>(runs), B: new List<double>(runs));
        for (var i = -10; i < runs; i++)
        {
            foreach (var (session, list) in new[] { (a, times.A), (b, times.B) })
            {
                var started = Stopwatch.GetTimestamp();
                using var outputs = session.Run(runOptions, ["input"], [value], session.OutputNames);
                if (i >= 0)
                {
                    list.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }

        return (Median(times.A), Median(times.B));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static ModelProto Build(Stack stack, int layers, int channels, int size)
    {
        var random = new Random(3);
        var graph = new GraphProto { Name = "int8-limit" };
        graph.Input.Add(ValueInfo("input", channels, size));
        graph.Output.Add(ValueInfo("output", channels, size));
        var current = "input";
        for (var i = 0; i < layers; i++)
        {
            var group = stack.HalfDepthwise && i % 2 == 1 ? channels : 1;
            var perGroup = channels / group;
            var weights = new float[channels * perGroup * 9];
            var bound = 1.5f / MathF.Sqrt(perGroup * 9);
            for (var w = 0; w < weights.Length; w++)
            {
                weights[w] = (random.NextSingle() * 2 - 1) * bound;
            }

            graph.Initializer.Add(OnnxTensors.Float($"w{i}", [channels, perGroup, 3, 3], weights));
            graph.Initializer.Add(OnnxTensors.Float($"b{i}", [channels], [.. Enumerable.Range(0, channels).Select(_ => (random.NextSingle() - 0.5f) * 0.1f)]));
            var conv = Node("Conv", $"conv{i}", [current, $"w{i}", $"b{i}"], $"c{i}");
            conv.Attribute.Add(new AttributeProto { Name = "kernel_shape", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 3, 3 } });
            conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
            conv.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = group });
            graph.Node.Add(conv);
            var output = i == layers - 1 ? "output" : $"a{i}";
            if (stack.Activation == "Relu")
            {
                graph.Node.Add(Node("Relu", $"relu{i}", [$"c{i}"], output));
            }
            else
            {
                graph.Node.Add(Node("Sigmoid", $"sigmoid{i}", [$"c{i}"], $"g{i}"));
                graph.Node.Add(Node("Mul", $"silu{i}", [$"c{i}", $"g{i}"], output));
            }

            current = output;
        }

        var model = new ModelProto { IrVersion = 8, ProducerName = "yolofleet int8-limit", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    private static float[] Input(int channels, int size, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, channels * size * size).Select(_ => random.NextSingle())];
    }

    private static NodeProto Node(string opType, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    private static ValueInfoProto ValueInfo(string name, int channels, int size)
    {
        var shape = new TensorShapeProto();
        foreach (var dimension in new long[] { 1, channels, size, size })
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dimension });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
