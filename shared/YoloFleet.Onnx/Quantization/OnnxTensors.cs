using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using YoloFleet.Onnx.Protos;

namespace YoloFleet.Onnx.Quantization;

/// <summary>Reads and builds <see cref="TensorProto"/> values: raw_data or the typed fields, little-endian as ONNX stores them.</summary>
public static class OnnxTensors
{
    /// <summary>The tensor's element count (1 for a scalar).</summary>
    public static long ElementCount(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.Dims.Aggregate(1L, (count, dimension) => count * dimension);
    }

    /// <summary>The values of a FLOAT tensor, from raw_data or float_data.</summary>
    /// <exception cref="QuantizationException">The tensor is not FLOAT, keeps its data in an external file, or its data does not match its shape.</exception>
    public static float[] ReadFloats(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireType(tensor, TensorProto.Types.DataType.Float);
        RequireInline(tensor);
        var count = ElementCount(tensor);
        float[] values;
        if (tensor.HasRawData)
        {
            var raw = tensor.RawData.Span;
            if (raw.Length != count * sizeof(float))
            {
                throw new QuantizationException($"Tensor '{tensor.Name}' has {raw.Length} bytes of raw data; its shape [{string.Join(',', tensor.Dims)}] needs {count * sizeof(float)}.");
            }

            values = new float[count];
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(values);
            }
            else
            {
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                }
            }

            return values;
        }

        if (tensor.FloatData.Count != count)
        {
            throw new QuantizationException($"Tensor '{tensor.Name}' has {tensor.FloatData.Count} float values; its shape [{string.Join(',', tensor.Dims)}] needs {count}.");
        }

        return [.. tensor.FloatData];
    }

    /// <summary>The values of an INT64 tensor (shapes, axes), from raw_data or int64_data.</summary>
    public static long[] ReadInt64s(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireType(tensor, TensorProto.Types.DataType.Int64);
        RequireInline(tensor);
        if (tensor.HasRawData)
        {
            var raw = tensor.RawData.Span;
            var values = new long[raw.Length / sizeof(long)];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
            }

            return values;
        }

        return [.. tensor.Int64Data];
    }

    public static TensorProto Float(string name, long[] dims, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return Raw(name, dims, TensorProto.Types.DataType.Float, bytes);
    }

    public static TensorProto Int32(string name, long[] dims, ReadOnlySpan<int> values)
    {
        var bytes = new byte[values.Length * sizeof(int)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return Raw(name, dims, TensorProto.Types.DataType.Int32, bytes);
    }

    public static TensorProto Int64(string name, long[] dims, ReadOnlySpan<long> values)
    {
        var bytes = new byte[values.Length * sizeof(long)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        }

        return Raw(name, dims, TensorProto.Types.DataType.Int64, bytes);
    }

    /// <summary>An 8-bit tensor of <paramref name="type"/> holding <paramref name="values"/> as stored bytes (two's complement for Int8).</summary>
    public static TensorProto EightBit(string name, long[] dims, QuantizedType type, byte[] values) =>
        Raw(name, dims, type == QuantizedType.UInt8 ? TensorProto.Types.DataType.Uint8 : TensorProto.Types.DataType.Int8, values);

    /// <summary>The values of an INT8 or UINT8 tensor as integers.</summary>
    public static int[] ReadEightBit(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireInline(tensor);
        var signed = tensor.DataType == (int)TensorProto.Types.DataType.Int8;
        if (!signed && tensor.DataType != (int)TensorProto.Types.DataType.Uint8)
        {
            throw new QuantizationException($"Tensor '{tensor.Name}' has data type {DataTypeName(tensor.DataType)}; INT8 or UINT8 was expected.");
        }

        if (tensor.HasRawData)
        {
            return [.. tensor.RawData.Span.ToArray().Select(value => signed ? (int)unchecked((sbyte)value) : value)];
        }

        // The typed form keeps 8-bit values in int32_data.
        return [.. tensor.Int32Data];
    }

    /// <summary>The values of an INT32 tensor.</summary>
    public static int[] ReadInt32s(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        RequireType(tensor, TensorProto.Types.DataType.Int32);
        RequireInline(tensor);
        if (tensor.HasRawData)
        {
            var raw = tensor.RawData.Span;
            var values = new int[raw.Length / sizeof(int)];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
            }

            return values;
        }

        return [.. tensor.Int32Data];
    }

    public static string DataTypeName(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType) ? ((TensorProto.Types.DataType)dataType).ToString().ToUpperInvariant() : $"type {dataType}";

    private static TensorProto Raw(string name, long[] dims, TensorProto.Types.DataType type, byte[] bytes)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    private static void RequireType(TensorProto tensor, TensorProto.Types.DataType expected)
    {
        if (tensor.DataType != (int)expected)
        {
            throw new QuantizationException($"Tensor '{tensor.Name}' has data type {DataTypeName(tensor.DataType)}; {expected.ToString().ToUpperInvariant()} was expected.");
        }
    }

    private static void RequireInline(TensorProto tensor)
    {
        if (tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            throw new QuantizationException(
                $"Tensor '{tensor.Name}' keeps its data in an external file ({string.Join(", ", tensor.ExternalData.Select(entry => entry.Key + "=" + entry.Value))}); " +
                "load the model with its external data first.");
        }
    }
}
