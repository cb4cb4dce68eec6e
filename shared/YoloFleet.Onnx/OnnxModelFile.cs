using Google.Protobuf;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx;

/// <summary>Reads and writes ONNX model files as <see cref="ModelProto"/> messages.</summary>
public static class OnnxModelFile
{
    // Protobuf refuses messages over 2 GiB; ONNX models that large keep their weights in external data files.
    private const long MaxModelBytes = int.MaxValue;

    /// <summary>
    /// Reads the ONNX model in <paramref name="path"/>, and with <paramref name="loadExternalData"/> the initializers it
    /// keeps in external data files beside it (<see cref="OnnxExternalData"/>), so the result stands alone.
    /// </summary>
    /// <exception cref="OnnxModelReadException">The file is missing, empty, not an ONNX protobuf, or has no graph; or
    /// its external data cannot be read.</exception>
    public static ModelProto Load(string path, bool loadExternalData = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new OnnxModelReadException(fullPath, $"ONNX model file not found: '{fullPath}'.");
        }

        var length = new FileInfo(fullPath).Length;
        if (length == 0)
        {
            throw new OnnxModelReadException(fullPath, $"ONNX model file '{fullPath}' is empty. Export the model again or copy the file again.");
        }

        if (length > MaxModelBytes)
        {
            throw new OnnxModelReadException(fullPath, $"ONNX model file '{fullPath}' is {length} bytes, over protobuf's 2 GiB limit. Save the model with external data.");
        }

        ModelProto model;
        try
        {
            using var stream = File.OpenRead(fullPath);
            using var input = new CodedInputStream(stream);
            model = new ModelProto();
            model.MergeFrom(input);
        }
        catch (InvalidProtocolBufferException exception)
        {
            throw new OnnxModelReadException(fullPath, $"'{fullPath}' is not a valid ONNX model: it does not parse as an ONNX ModelProto ({exception.Message}).", exception);
        }

        // Random bytes sometimes parse as a protobuf message by chance; a real model always has a graph and an IR version.
        if (model.Graph is null || !model.HasIrVersion)
        {
            throw new OnnxModelReadException(fullPath, $"'{fullPath}' is not a valid ONNX model: it parses as protobuf but has no {(model.Graph is null ? "graph" : "IR version")}.");
        }

        if (loadExternalData)
        {
            OnnxExternalData.Load(model, fullPath);
        }

        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/>, replacing the file only once it is complete. A model
    /// over protobuf's 2 GiB limit is refused: move its weights out first with <see cref="OnnxExternalData.Externalize"/>.
    /// </summary>
    public static void Save(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        var size = model.CalculateSize();
        if (size < 0 || size > MaxModelBytes)
        {
            throw new InvalidOperationException(
                $"The model is over protobuf's 2 GiB limit and cannot be written as one file to '{fullPath}'; move its weights into an external data file first (OnnxExternalData.Externalize).");
        }

        // A half-written model would load as garbage later; write beside the target and move it into place.
        var temporaryPath = fullPath + ".tmp";
        try
        {
            using (var stream = File.Create(temporaryPath))
            {
                model.WriteTo(stream);
            }

            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }

    /// <summary>
    /// Removes from the graph inputs every name that is also an initializer, and says how many went. Old exports
    /// (IR below 4, and some later ones such as PicoDet's paddle2onnx files) list every weight as an input; ONNX
    /// Runtime then treats the weights as overridable and skips constant folding. The model computes the same.
    /// </summary>
    public static int RemoveInitializersFromInputs(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? throw new ArgumentException("The model has no graph.", nameof(model));
        var initializers = OnnxGraph.InitializerNames(graph);
        var kept = graph.Input.Where(input => !initializers.Contains(input.Name)).ToList();
        var removed = graph.Input.Count - kept.Count;
        if (removed > 0)
        {
            graph.Input.Clear();
            graph.Input.AddRange(kept);
        }

        return removed;
    }
}
