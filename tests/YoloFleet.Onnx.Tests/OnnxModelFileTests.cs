using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using YoloFleet.Inference;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Tests;

public sealed class OnnxModelFileTests : IDisposable
{
    private static readonly string[] PicoDetOutputs =
    [
        .. Enumerable.Range(0, 8).Select(index => $"save_infer_model/scale_{index}.tmp_1"),
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-onnx-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Yolox_nano_loads_with_the_documented_input_and_output()
    {
        var model = OnnxModelFile.Load(SharedData.YoloxNano416);

        Assert.NotEmpty(model.Graph.Node);
        Assert.Equal(["images"], GraphInputNames(model));
        Assert.Equal(["output"], model.Graph.Output.Select(output => output.Name));
        Assert.Equal([1L, 3, 416, 416], model.Graph.Input[0].Type.TensorType.Shape.Dim.Select(dim => dim.DimValue));
        Assert.Equal((int)TensorProto.Types.DataType.Float, model.Graph.Input[0].Type.TensorType.ElemType);
    }

    [Theory]
    [InlineData("picodet_s_320_coco.onnx", 320)]
    [InlineData("picodet_s_416_coco.onnx", 416)]
    public void PicoDet_loads_with_the_documented_outputs_and_every_initializer_listed_as_an_input(string file, int size)
    {
        var model = OnnxModelFile.Load(SharedData.Path("models", "picodet_s", file));

        Assert.NotEmpty(model.Graph.Node);
        Assert.Equal("image", model.Graph.Input[0].Name);
        Assert.Equal([1L, 3, size, size], model.Graph.Input[0].Type.TensorType.Shape.Dim.Select(dim => dim.DimValue));
        Assert.Equal(PicoDetOutputs, model.Graph.Output.Select(output => output.Name));
        Assert.Equal(7, model.IrVersion);
        Assert.Equal(11, model.OpsetImport.Single(opset => opset.Domain.Length == 0).Version);
        Assert.Equal(model.Graph.Initializer.Count + 1, model.Graph.Input.Count);
    }

    [Theory]
    [InlineData("yolox_nano", "yolox_nano_416.onnx")]
    [InlineData("picodet_s", "picodet_s_320_coco.onnx")]
    public void Save_then_load_serializes_byte_for_byte_the_same(string folder, string file)
    {
        var model = OnnxModelFile.Load(SharedData.Path("models", folder, file));
        var copy = Path.Combine(_folder, file);

        OnnxModelFile.Save(model, copy);
        var reloaded = OnnxModelFile.Load(copy);

        Assert.Equal(model.ToByteArray(), reloaded.ToByteArray());
        Assert.Equal(model, reloaded);
    }

    [Theory]
    [InlineData("yolox_nano", "yolox_nano_416.onnx")]
    [InlineData("picodet_s", "picodet_s_320_coco.onnx")]
    [InlineData("picodet_s", "picodet_s_416_coco.onnx")]
    public void Saving_an_unchanged_model_writes_the_original_file_back(string folder, string file)
    {
        var original = SharedData.Path("models", folder, file);
        var copy = Path.Combine(_folder, file);

        OnnxModelFile.Save(OnnxModelFile.Load(original), copy);

        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(copy));
    }

    [Fact]
    public void Fields_this_schema_does_not_declare_survive_a_round_trip()
    {
        var model = OnnxModelFile.Load(SharedData.YoloxNano416);

        // ModelProto.functions (25) and GraphProto.sparse_initializer (15) are real ONNX fields left out of our schema.
        // A FunctionProto holding just name = "foo" (field 1).
        var undeclared = LengthDelimitedField(25, [0x0A, 0x03, (byte)'f', (byte)'o', (byte)'o']);
        var withFunction = ModelProto.Parser.ParseFrom(model.ToByteArray().Concat(undeclared).ToArray());
        // A SparseTensorProto holding an empty dims list (field 3).
        var graphUndeclared = LengthDelimitedField(15, [0x1A, 0x00]);
        withFunction.Graph = GraphProto.Parser.ParseFrom(withFunction.Graph.ToByteArray().Concat(graphUndeclared).ToArray());
        var copy = Path.Combine(_folder, "with-unknown-fields.onnx");

        OnnxModelFile.Save(withFunction, copy);
        var reloaded = OnnxModelFile.Load(copy);

        Assert.Equal(withFunction.ToByteArray(), reloaded.ToByteArray());
        var modelBytes = reloaded.ToByteArray();
        Assert.Equal(undeclared, modelBytes[^undeclared.Length..]);
        var graphBytes = reloaded.Graph.ToByteArray();
        Assert.Equal(graphUndeclared, graphBytes[^graphUndeclared.Length..]);
    }

    [Fact]
    public void Removing_initializers_from_PicoDet_inputs_leaves_only_the_image_and_keeps_the_outputs()
    {
        var original = SharedData.PicoDetS320;
        var model = OnnxModelFile.Load(original);
        var inputsBefore = model.Graph.Input.Count;

        var removed = OnnxModelFile.RemoveInitializersFromInputs(model);

        Assert.Equal(inputsBefore - 1, removed);
        Assert.True(removed > 100, $"expected PicoDet to list its ~{model.Graph.Initializer.Count} weights as inputs, removed {removed}");
        Assert.Equal(["image"], GraphInputNames(model));
        Assert.Equal(inputsBefore - 1, model.Graph.Initializer.Count);

        var repaired = Path.Combine(_folder, "picodet_s_320_repaired.onnx");
        OnnxModelFile.Save(model, repaired);
        var input = PicoDetInput(Path.Combine(SharedData.Coco128Images, "000000000009.jpg"), 320);
        var expected = RunModel(original, "image", input, [1, 3, 320, 320]);
        var actual = RunModel(repaired, "image", input, [1, 3, 320, 320]);

        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
        {
            Assert.Equal(values.Length, actual[name].Length);
            var maxDifference = values.Zip(actual[name], (a, b) => MathF.Abs(a - b)).Max();
            Assert.True(maxDifference < 1e-4f, $"output '{name}' differs by up to {maxDifference}");
        }

        // The scores are not all zero: the comparison above compared real detections.
        Assert.True(expected["save_infer_model/scale_0.tmp_1"].Max() > 0.3f);
    }

    [Fact]
    public void Removing_initializers_from_yolox_inputs_removes_nothing()
    {
        var model = OnnxModelFile.Load(SharedData.YoloxNano416);
        var before = model.ToByteArray();

        Assert.Equal(0, OnnxModelFile.RemoveInitializersFromInputs(model));
        Assert.Equal(before, model.ToByteArray());
    }

    [Fact]
    public void Loading_random_bytes_names_the_file()
    {
        var path = Path.Combine(_folder, "random.onnx");
        var bytes = new byte[4096];
        new Random(1234).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);

        var exception = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));

        Assert.Equal(path, exception.Path);
        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
        Assert.Contains("not a valid ONNX model", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_a_truncated_model_names_the_file()
    {
        var path = Path.Combine(_folder, "truncated.onnx");
        var bytes = File.ReadAllBytes(SharedData.YoloxNano416);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var exception = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_an_empty_file_says_it_is_empty()
    {
        var path = Path.Combine(_folder, "empty.onnx");
        File.WriteAllBytes(path, []);

        var exception = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
        Assert.Contains("empty", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_a_missing_file_names_the_file()
    {
        var path = Path.Combine(_folder, "missing.onnx");

        var exception = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
    }

    private static byte[] LengthDelimitedField(int fieldNumber, byte[] payload)
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer))
        {
            output.WriteTag(fieldNumber, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(payload));
        }

        return buffer.ToArray();
    }

    private static string[] GraphInputNames(ModelProto model) => [.. model.Graph.Input.Select(input => input.Name)];

    // The PicoDet contract from SOURCE.txt: RGB, plain resize, mean/std on 0..255 values, CHW.
    private static float[] PicoDetInput(string imagePath, int size)
    {
        float[] mean = [123.675f, 116.28f, 103.53f];
        float[] std = [58.395f, 57.12f, 57.375f];
        using var image = ImageFile.Read(imagePath);
        using var resized = image.Resize(new Size(size, size));
        using var rgb = resized.CvtColor(ColorConversionCodes.BGR2RGB);
        var chw = new float[3 * size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var pixel = rgb.At<Vec3b>(y, x);
                for (var channel = 0; channel < 3; channel++)
                {
                    chw[(channel * size * size) + (y * size) + x] = (pixel[channel] - mean[channel]) / std[channel];
                }
            }
        }

        return chw;
    }

    private static Dictionary<string, float[]> RunModel(string modelPath, string inputName, float[] input, long[] shape)
    {
        using var session = new InferenceSession(modelPath);
        using var inputValue = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var outputs = session.Run(new RunOptions(), [inputName], [inputValue], session.OutputNames);
        return session.OutputNames
            .Zip(outputs, (name, value) => (name, values: value.GetTensorDataAsSpan<float>().ToArray()))
            .ToDictionary(pair => pair.name, pair => pair.values);
    }
}
