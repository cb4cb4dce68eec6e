using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

/// <summary>
/// Small FP32 models built in code with the ONNX protobuf classes, shaped like the detectors' building blocks:
/// Conv -> SiLU (Sigmoid, Mul) -> depthwise Conv -> residual Add -> MaxPool -> 1x1 Conv -> hard-swish
/// (Add, Clip, Mul, Div) -> Concat -> head Conv -> Sigmoid. Weights come from a seeded generator.
/// </summary>
internal static class SyntheticModels
{
    public const int Size = 16;

    public static ModelProto ConvBlock(int opset = 13, int seed = 7, int channels = 8)
    {
        var random = new Random(seed);
        var graph = new GraphProto { Name = "synthetic" };
        graph.Input.Add(ValueInfo("input", 1, 3, Size, Size));
        graph.Output.Add(ValueInfo("scores", 1, 4, Size / 2, Size / 2));

        Conv(graph, random, "stem", "input", "stem_out", inChannels: 3, outChannels: channels, kernel: 3, group: 1);
        graph.Node.Add(Node("Sigmoid", "stem_sigmoid", ["stem_out"], ["stem_gate"]));
        graph.Node.Add(Node("Mul", "stem_silu", ["stem_out", "stem_gate"], ["silu_out"]));
        Conv(graph, random, "depthwise", "silu_out", "dw_out", inChannels: channels, outChannels: channels, kernel: 3, group: channels);
        graph.Node.Add(Node("Add", "residual", ["dw_out", "silu_out"], ["res_out"]));
        var pool = Node("MaxPool", "pool", ["res_out"], ["pool_out"]);
        pool.Attribute.Add(Ints("kernel_shape", 2, 2));
        pool.Attribute.Add(Ints("strides", 2, 2));
        graph.Node.Add(pool);
        Conv(graph, random, "pointwise", "pool_out", "pw_out", inChannels: channels, outChannels: channels, kernel: 1, group: 1);

        // hard-swish as paddle2onnx writes it: x * Clip(x + 3, 0, 6) / 6.
        graph.Initializer.Add(OnnxTensors.Float("three", [], [3f]));
        graph.Initializer.Add(OnnxTensors.Float("zero", [], [0f]));
        graph.Initializer.Add(OnnxTensors.Float("six", [], [6f]));
        graph.Node.Add(Node("Add", "hs_add", ["pw_out", "three"], ["hs_shift"]));
        graph.Node.Add(Node("Clip", "hs_clip", ["hs_shift", "zero", "six"], ["hs_clipped"]));
        graph.Node.Add(Node("Mul", "hs_mul", ["pw_out", "hs_clipped"], ["hs_product"]));
        graph.Node.Add(Node("Div", "hs_div", ["hs_product", "six"], ["hs_out"]));

        var concat = Node("Concat", "concat", ["hs_out", "pool_out"], ["cat_out"]);
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(concat);
        Conv(graph, random, "head", "cat_out", "head_out", inChannels: 2 * channels, outChannels: 4, kernel: 1, group: 1);
        graph.Node.Add(Node("Sigmoid", "head_sigmoid", ["head_out"], ["scores"]));

        var model = new ModelProto { IrVersion = 8, ProducerName = "YoloFleet tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    /// <summary>Seeded inputs in 0..1 with some structure (a gradient plus noise), like normalised images.</summary>
    public static float[][] Inputs(int count, int seed = 11)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var values = new float[3 * Size * Size];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (i % Size) / (float)Size * 0.5f + random.NextSingle() * 0.5f;
            }

            return values;
        })];
    }

    public static Dictionary<string, float[]> Run(ModelProto model, float[] input)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        var inputName = session.InputNames[0];
        var shape = session.InputMetadata[inputName].Dimensions.Select(dimension => (long)dimension).ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [value], session.OutputNames);
        return session.OutputNames.Zip(outputs, (name, output) => (name, output.GetTensorDataAsSpan<float>().ToArray()))
            .ToDictionary(pair => pair.name, pair => pair.Item2, StringComparer.Ordinal);
    }

    public static double Cosine(float[] a, float[] b)
    {
        double dot = 0, left = 0, right = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            left += (double)a[i] * a[i];
            right += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(left * right);
    }

    public static NodeProto Node(string opType, string name, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    public static ValueInfoProto ValueInfo(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(dimension => new TensorShapeProto.Types.Dimension { DimValue = dimension }));
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static void Conv(GraphProto graph, Random random, string name, string input, string output, int inChannels, int outChannels, int kernel, int group)
    {
        var perGroup = inChannels / group;
        var weights = new float[outChannels * perGroup * kernel * kernel];
        var bound = 1.5f / MathF.Sqrt(perGroup * kernel * kernel);
        for (var i = 0; i < weights.Length; i++)
        {
            // Channels of different magnitudes, as batch-norm folding leaves them: per-channel scales matter.
            var channel = i / (perGroup * kernel * kernel);
            weights[i] = (random.NextSingle() * 2 - 1) * bound * (1 + channel % 3);
        }

        var bias = Enumerable.Range(0, outChannels).Select(_ => random.NextSingle() - 0.5f).ToArray();
        graph.Initializer.Add(OnnxTensors.Float(name + ".weight", [outChannels, perGroup, kernel, kernel], weights));
        graph.Initializer.Add(OnnxTensors.Float(name + ".bias", [outChannels], bias));
        var node = Node("Conv", name, [input, name + ".weight", name + ".bias"], [output]);
        node.Attribute.Add(Ints("kernel_shape", kernel, kernel));
        node.Attribute.Add(Ints("pads", kernel / 2, kernel / 2, kernel / 2, kernel / 2));
        node.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = group });
        graph.Node.Add(node);
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }
}
