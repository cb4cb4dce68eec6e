using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using YoloFleet.Inference;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Tests;

/// <summary>Models with their weights in an external data file: written, read back, and run by ONNX Runtime.</summary>
public sealed class OnnxExternalDataTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-extdata-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Weights_moved_to_an_external_file_run_the_same_in_the_runtime_and_load_back_whole()
    {
        var original = OnnxModelFile.Load(SharedData.YoloxNano416);
        var path = Path.Combine(_folder, "yolox_external.onnx");
        var model = original.Clone();

        var moved = OnnxExternalData.Externalize(model, path, "yolox_external.weights");
        OnnxModelFile.Save(model, path);

        Assert.True(moved > 3_000_000, $"only {moved} bytes moved");
        Assert.True(new FileInfo(path).Length < new FileInfo(SharedData.YoloxNano416).Length / 10, "the model file still holds the weights");
        Assert.True(OnnxExternalData.HasExternalData(OnnxModelFile.Load(path, loadExternalData: false)));

        // ONNX Runtime reads the external file itself and computes exactly what the single-file model does.
        var input = Enumerable.Range(0, 3 * 416 * 416).Select(i => (i % 255) / 255f).ToArray();
        Assert.Equal(Run(SharedData.YoloxNano416, input), Run(path, input));

        // Loading inlines every tensor again: the same model as the original.
        var reloaded = OnnxModelFile.Load(path);
        Assert.False(OnnxExternalData.HasExternalData(reloaded));
        Assert.Equal(original.Graph.Initializer.Select(t => (t.Name, t.RawData)), reloaded.Graph.Initializer.Select(t => (t.Name, t.RawData)));
        Assert.All(reloaded.Graph.Initializer, t => Assert.Empty(t.ExternalData));
    }

    [Fact]
    public void A_short_missing_or_escaping_data_file_is_refused_naming_the_tensor()
    {
        var path = Path.Combine(_folder, "m.onnx");
        var model = OnnxModelFile.Load(SharedData.YoloxNano416);
        OnnxExternalData.Externalize(model, path, "m.weights");
        OnnxModelFile.Save(model, path);
        var first = model.Graph.Initializer.First(t => t.ExternalData.Count > 0).Name;

        // Truncated: the last tensor's bytes are cut off.
        var data = Path.Combine(_folder, "m.weights");
        using (var stream = File.OpenWrite(data))
        {
            stream.SetLength(stream.Length - 10);
        }

        var shortFile = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));
        Assert.Contains("bytes", shortFile.Message, StringComparison.Ordinal);

        // Missing.
        File.Delete(data);
        var missing = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));
        Assert.Contains($"'{first}'", missing.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        // A location outside the model's folder is never read.
        var escaping = model.Clone();
        escaping.Graph.Initializer.First(t => t.Name == first).ExternalData.Single(e => e.Key == "location").Value = "../../etc/passwd";
        OnnxModelFile.Save(escaping, path);
        var outside = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));
        Assert.Contains("not a file inside the model's folder", outside.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_do_not_fit_the_tensors_shape_are_refused()
    {
        var path = Path.Combine(_folder, "shape.onnx");
        var model = OnnxModelFile.Load(SharedData.YoloxNano416);
        OnnxExternalData.Externalize(model, path, "shape.weights");
        var tensor = model.Graph.Initializer.First(t => t.ExternalData.Count > 0);
        tensor.Dims[0] += 1;
        OnnxModelFile.Save(model, path);

        var error = Assert.Throws<OnnxModelReadException>(() => OnnxModelFile.Load(path));
        Assert.Contains($"'{tensor.Name}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("shape and type need", error.Message, StringComparison.Ordinal);
    }

    private static float[] Run(string modelPath, float[] input)
    {
        using var session = new InferenceSession(modelPath);
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, 416, 416]);
        using var outputs = session.Run(new RunOptions(), ["images"], [value], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
