using System.Globalization;
using Google.Protobuf;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx;

/// <summary>
/// ONNX external data (https://onnx.ai/onnx/repo-docs/ExternalData.html): large models keep initializer bytes in
/// files beside the model, named by each tensor's <c>external_data</c> entries <c>location</c> (a path relative to the
/// model's folder), <c>offset</c> and <c>length</c>, with <c>data_location = EXTERNAL</c>. This reads such tensors into
/// the model and writes them out again.
/// </summary>
public static class OnnxExternalData
{
    /// <summary>Whether any initializer of the graph keeps its data outside the model file.</summary>
    public static bool HasExternalData(ModelProto model) =>
        ExternalTensors(model).Any();

    /// <summary>
    /// Reads every external initializer's bytes into its <c>raw_data</c> (the tensor then no longer refers to a file);
    /// returns how many tensors were read.
    /// </summary>
    /// <exception cref="OnnxModelReadException">A data file is missing, outside the model's folder, too short, or the
    /// bytes do not match the tensor's shape.</exception>
    public static int Load(ModelProto model, string modelPath)
    {
        ArgumentNullException.ThrowIfNull(model);
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var count = 0;
        foreach (var tensor in ExternalTensors(model))
        {
            var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            if (!entries.TryGetValue("location", out var location) || string.IsNullOrEmpty(location))
            {
                throw Error(modelPath, tensor, "has no external_data 'location'");
            }

            var file = ResolveInside(folder, location) ?? throw Error(modelPath, tensor, $"names '{location}', which is not a file inside the model's folder '{folder}'");
            if (!File.Exists(file))
            {
                throw Error(modelPath, tensor, $"keeps its data in '{file}', which does not exist (copy the data files with the model)");
            }

            var offset = ReadNumber(entries, "offset", 0, modelPath, tensor);
            var fileLength = new FileInfo(file).Length;
            var length = ReadNumber(entries, "length", fileLength - offset, modelPath, tensor);
            if (offset < 0 || length < 0 || offset + length > fileLength)
            {
                throw Error(modelPath, tensor, $"asks for bytes {offset}..{offset + length} of '{file}', which has {fileLength}");
            }

            if (ExpectedBytes(tensor) is { } expected && expected != length)
            {
                throw Error(modelPath, tensor, $"has {length} bytes in '{file}' but its shape and type need {expected}");
            }

            if (length > int.MaxValue)
            {
                throw Error(modelPath, tensor, $"is {length} bytes, over protobuf's 2 GiB limit for one field");
            }

            var bytes = new byte[length];
            using (var stream = File.OpenRead(file))
            {
                stream.Seek(offset, SeekOrigin.Begin);
                stream.ReadExactly(bytes);
            }

            tensor.RawData = UnsafeByteOperations.UnsafeWrap(bytes);
            tensor.ExternalData.Clear();
            tensor.ClearDataLocation();
            count++;
        }

        return count;
    }

    /// <summary>
    /// Moves every initializer with at least <paramref name="minBytes"/> of <c>raw_data</c> into
    /// <paramref name="dataFileName"/> beside <paramref name="modelPath"/> (offsets aligned to 4 KiB, as ONNX's own tools
    /// do, so the runtime can map them) and points the tensors at it. Returns the bytes moved. Save the model afterwards.
    /// </summary>
    public static long Externalize(ModelProto model, string modelPath, string dataFileName, int minBytes = 1024)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(dataFileName);
        if (Path.GetFileName(dataFileName) != dataFileName)
        {
            throw new ArgumentException($"The data file name '{dataFileName}' must be a plain file name (it is stored beside the model).", nameof(dataFileName));
        }

        const int Alignment = 4096;
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var dataPath = Path.Combine(folder, dataFileName);
        long moved = 0;
        using var stream = File.Create(dataPath);
        foreach (var tensor in model.Graph.Initializer)
        {
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.RawData.Length < minBytes)
            {
                continue;
            }

            var offset = (stream.Position + Alignment - 1) / Alignment * Alignment;
            stream.SetLength(offset);
            stream.Position = offset;
            stream.Write(tensor.RawData.Span);
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataFileName });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = tensor.RawData.Length.ToString(CultureInfo.InvariantCulture) });
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            moved += tensor.RawData.Length;
            tensor.ClearRawData();
        }

        return moved;
    }

    /// <summary>The byte size a tensor's shape and fixed-size type imply, or null where that is not defined.</summary>
    public static long? ExpectedBytes(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        int? elementBytes = (TensorProto.Types.DataType)tensor.DataType switch
        {
            TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
            TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64
                or TensorProto.Types.DataType.Complex64 => 8,
            TensorProto.Types.DataType.Complex128 => 16,
            TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
                or TensorProto.Types.DataType.Uint16 => 2,
            TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Bool => 1,
            _ => null,
        };
        if (elementBytes is null || tensor.Dims.Any(d => d < 0))
        {
            return null;
        }

        return tensor.Dims.Aggregate(1L, (product, d) => product * d) * elementBytes.Value;
    }

    private static IEnumerable<TensorProto> ExternalTensors(ModelProto model) =>
        model.Graph?.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External) ?? [];

    /// <summary>The full path of <paramref name="location"/> when it stays inside <paramref name="folder"/>; null otherwise.</summary>
    private static string? ResolveInside(string folder, string location)
    {
        if (Path.IsPathRooted(location))
        {
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(folder, location));
        var root = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
        return full.StartsWith(root, StringComparison.Ordinal) ? full : null;
    }

    private static long ReadNumber(Dictionary<string, string> entries, string key, long fallback, string modelPath, TensorProto tensor)
    {
        if (!entries.TryGetValue(key, out var text))
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw Error(modelPath, tensor, $"has external_data '{key}' = '{text}', not a non-negative integer");
    }

    private static OnnxModelReadException Error(string modelPath, TensorProto tensor, string problem) =>
        new(Path.GetFullPath(modelPath), $"Initializer '{tensor.Name}' of '{Path.GetFullPath(modelPath)}' {problem}.");
}
