using System.Buffers.Binary;
using System.Text;

namespace YoloFleet.Inference.Tests.Support;

/// <summary>
/// Writes minimal ONNX models by hand-encoding the protobuf, so tests can craft models with exact output shapes and
/// values (no ONNX tooling is available here). Only the fields ONNX Runtime needs are written.
/// </summary>
internal static class TinyOnnxModel
{
    private const int FloatType = 1;

    /// <summary>input [1,3,H,W] -> Identity -> output: a valid model whose outputs match no detection layout.</summary>
    public static byte[] Identity(int height, int width) =>
        Model(
            node: Node("Identity", ["images"], ["same"]),
            inputs: [ValueInfo("images", Dims(1, 3, height, width))],
            outputs: [ValueInfo("same", Dims(1, 3, height, width))]);

    /// <summary>
    /// An image input [1,3,H,W] whose output is the constant <paramref name="values"/> of <paramref name="outputShape"/>,
    /// with optional ONNX metadata_props (Ultralytics stores names, stride, imgsz there) and producer name.
    /// </summary>
    public static byte[] ConstantOutput(
        int height, int width, string outputName, long[] outputShape, float[] values,
        IReadOnlyDictionary<string, string>? metadata = null, string producer = "YoloFleet tests") =>
        Model(
            node: Node("Constant", [], [outputName], Attribute("value", Tensor(outputShape, values))),
            inputs: [ValueInfo("images", Dims(1, 3, height, width))],
            outputs: [ValueInfo(outputName, Dims(outputShape))],
            metadata,
            producer);

    /// <summary>
    /// A model that declares its output as <paramref name="declaredShape"/> [1, R, C] (so it loads as the layout that
    /// shape means) but whose real row count depends on the image: Slice(table [1, R, C], 0, min(image)) along axis 1.
    /// ONNX Runtime cannot know that count before it runs, so it keeps the declared shape; an image whose smallest
    /// preprocessed value is 0 yields [1, 0, C].
    /// </summary>
    public static byte[] ImageDependentRows(int height, int width, long[] declaredShape, float fill)
    {
        var table = new float[declaredShape.Aggregate(1L, (length, dimension) => length * dimension)];
        Array.Fill(table, fill);
        byte[][] nodes =
        [
            Node("Constant", [], ["table"], Attribute("value", Tensor(declaredShape, table))),
            Node("ReduceMin", ["images"], ["smallest"], IntAttribute("keepdims", 0)),
            Node("Constant", [], ["one_dimension"], Attribute("value", Int64Tensor([1], [1]))),
            Node("Reshape", ["smallest", "one_dimension"], ["smallest_1d"]),
            Node("Cast", ["smallest_1d"], ["ends"], IntAttribute("to", 7 /* INT64 */)),
            Node("Constant", [], ["starts"], Attribute("value", Int64Tensor([1], [0]))),
            Node("Constant", [], ["axes"], Attribute("value", Int64Tensor([1], [1]))),
            Node("Slice", ["table", "starts", "ends", "axes"], ["output"]),
        ];
        return Model(nodes, [ValueInfo("images", Dims(1, 3, height, width))], [ValueInfo("output", Dims(declaredShape))]);
    }

    /// <summary>
    /// Like <see cref="ConstantOutput"/> but exported as dynamic: the input's height and width are open, and so is
    /// each output dimension whose entry in <paramref name="declaredOutputShape"/> is null.
    /// </summary>
    public static byte[] DynamicConstantOutput(
        string outputName, long[] outputShape, long?[] declaredOutputShape, float[] values, IReadOnlyDictionary<string, string>? metadata = null) =>
        Model(
            node: Node("Constant", [], [outputName], Attribute("value", Tensor(outputShape, values))),
            inputs: [ValueInfo("images", [Dim(1), Dim(3), Dim("height"), Dim("width")])],
            outputs: [ValueInfo(outputName, [.. declaredOutputShape.Select((dimension, i) => dimension is { } size ? Dim(size) : Dim($"d{i}"))])],
            metadata,
            "pytorch");

    /// <summary>
    /// An image input [1,3,H,W] and several constant outputs, listed in the given order with the given names and shapes
    /// (any rank): how GFL heads (PicoDet, NanoDet) come out of different exporters.
    /// </summary>
    public static byte[] ConstantOutputs(int height, int width, IReadOnlyList<(string Name, long[] Shape, float[] Values)> outputs) =>
        Model(
            nodes: [.. outputs.Select(output => Node("Constant", [], [output.Name], Attribute("value", Tensor(output.Shape, output.Values)), "make_" + output.Name))],
            inputs: [ValueInfo("images", Dims(1, 3, height, width))],
            outputs: [.. outputs.Select(output => ValueInfo(output.Name, Dims(output.Shape)))]);

    /// <summary>Like <see cref="Identity"/> but the input's height and width are named, i.e. open, dimensions.</summary>
    public static byte[] OpenSizeIdentity() =>
        Model(
            node: Node("Identity", ["images"], ["same"]),
            inputs: [ValueInfo("images", [Dim(1), Dim(3), Dim("height"), Dim("width")])],
            outputs: [ValueInfo("same", [Dim(1), Dim(3), Dim("height"), Dim("width")])]);

    private static byte[] Model(
        byte[] node, byte[][] inputs, byte[][] outputs, IReadOnlyDictionary<string, string>? metadata = null, string producer = "YoloFleet tests") =>
        Model([node], inputs, outputs, metadata, producer);

    private static byte[] Model(
        byte[][] nodes, byte[][] inputs, byte[][] outputs, IReadOnlyDictionary<string, string>? metadata = null, string producer = "YoloFleet tests")
    {
        var graph = new ProtoWriter();
        foreach (var node in nodes)
        {
            graph.Bytes(1, node);
        }

        graph.String(2, "tiny");
        foreach (var input in inputs)
        {
            graph.Bytes(11, input);
        }

        foreach (var output in outputs)
        {
            graph.Bytes(12, output);
        }

        var opset = new ProtoWriter().String(1, "").Varint(2, 13).ToArray();
        var model = new ProtoWriter()
            .Varint(1, 7)                       // ir_version
            .String(2, producer)                // producer_name
            .Bytes(7, graph.ToArray())          // graph
            .Bytes(8, opset);                   // opset_import
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.Bytes(14, new ProtoWriter().String(1, key).String(2, value).ToArray()); // metadata_props
        }

        return model.ToArray();
    }

    private static byte[] Node(string opType, string[] inputs, string[] outputs, byte[]? attribute = null, string? name = null)
    {
        var node = new ProtoWriter();
        foreach (var input in inputs)
        {
            node.String(1, input);
        }

        foreach (var output in outputs)
        {
            node.String(2, output);
        }

        node.String(3, name ?? opType.ToLowerInvariant()).String(4, opType);
        if (attribute is not null)
        {
            node.Bytes(5, attribute);
        }

        return node.ToArray();
    }

    private static byte[] Attribute(string name, byte[] tensor) =>
        new ProtoWriter().String(1, name).Bytes(5, tensor).Varint(20, 4 /* TENSOR */).ToArray();

    private static byte[] IntAttribute(string name, long value) =>
        new ProtoWriter().String(1, name).Varint(3, (ulong)value).Varint(20, 2 /* INT */).ToArray();

    private static byte[] Int64Tensor(long[] shape, long[] values)
    {
        var raw = new byte[values.Length * sizeof(long)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * sizeof(long)), values[i]);
        }

        var tensor = new ProtoWriter();
        foreach (var dimension in shape)
        {
            tensor.Varint(1, (ulong)dimension);
        }

        return tensor.Varint(2, 7 /* INT64 */).Bytes(9, raw).ToArray();
    }

    private static byte[] Tensor(long[] shape, float[] values)
    {
        var raw = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * sizeof(float)), values[i]);
        }

        var tensor = new ProtoWriter();
        foreach (var dimension in shape)
        {
            tensor.Varint(1, (ulong)dimension);
        }

        return tensor.Varint(2, FloatType).Bytes(9, raw).ToArray();
    }

    private static byte[] ValueInfo(string name, byte[][] dimensions)
    {
        var shape = new ProtoWriter();
        foreach (var dimension in dimensions)
        {
            shape.Bytes(1, dimension);
        }

        var tensorType = new ProtoWriter().Varint(1, FloatType).Bytes(2, shape.ToArray()).ToArray();
        var type = new ProtoWriter().Bytes(1, tensorType).ToArray();
        return new ProtoWriter().String(1, name).Bytes(2, type).ToArray();
    }

    private static byte[][] Dims(params long[] values) => [.. values.Select(Dim)];

    private static byte[] Dim(long value) => new ProtoWriter().Varint(1, (ulong)value).ToArray();

    private static byte[] Dim(string name) => new ProtoWriter().String(2, name).ToArray();

    private sealed class ProtoWriter
    {
        private readonly MemoryStream _stream = new();

        public ProtoWriter Varint(int field, ulong value)
        {
            WriteRaw(((ulong)field << 3) | 0);
            WriteRaw(value);
            return this;
        }

        public ProtoWriter Bytes(int field, byte[] value)
        {
            WriteRaw(((ulong)field << 3) | 2);
            WriteRaw((ulong)value.Length);
            _stream.Write(value);
            return this;
        }

        public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public byte[] ToArray() => _stream.ToArray();

        private void WriteRaw(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }
    }
}
