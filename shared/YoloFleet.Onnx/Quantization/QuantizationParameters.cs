namespace YoloFleet.Onnx.Quantization;

/// <summary>The integer type a tensor is quantized to.</summary>
public enum QuantizedType
{
    /// <summary>Unsigned 8-bit, asymmetric (a zero point anywhere in 0..255).</summary>
    UInt8,

    /// <summary>Signed 8-bit, symmetric (zero point 0, values -127..127).</summary>
    Int8,
}

/// <summary>
/// One scale and zero point: real = (q - zeroPoint) * scale. The arithmetic follows ONNX QuantizeLinear /
/// DequantizeLinear exactly (round half to even, then saturate), so what the quantizer computes here is what the
/// runtime computes.
/// </summary>
public readonly record struct QuantizationParameters(float Scale, int ZeroPoint, QuantizedType Type)
{
    public int Min => Type == QuantizedType.UInt8 ? 0 : -128;

    public int Max => Type == QuantizedType.UInt8 ? 255 : 127;

    /// <summary>
    /// Parameters for values in [<paramref name="min"/>, <paramref name="max"/>]. The range is widened to hold 0, so
    /// that zero (padding, ReLU) is exact. UInt8 spreads the range over 0..255; Int8 is symmetric over -127..127.
    /// </summary>
    public static QuantizationParameters ForRange(float min, float max, QuantizedType type)
    {
        if (!float.IsFinite(min) || !float.IsFinite(max) || min > max)
        {
            throw new ArgumentException($"The range [{min}, {max}] is not a finite, ordered range.");
        }

        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);
        if (type == QuantizedType.Int8)
        {
            var absMax = MathF.Max(-min, max);
            return new QuantizationParameters(absMax > 0f ? absMax / 127f : 1f, 0, type);
        }

        if (max - min <= 0f)
        {
            return new QuantizationParameters(1f, 0, type);
        }

        var scale = (max - min) / 255f;
        var zeroPoint = (int)Math.Clamp(MathF.Round(-min / scale, MidpointRounding.ToEven), 0f, 255f);
        return new QuantizationParameters(scale, zeroPoint, type);
    }

    /// <summary>Symmetric int8 parameters for values within ±<paramref name="absMax"/> (weights).</summary>
    public static QuantizationParameters SymmetricInt8(float absMax) =>
        new(absMax > 0f && float.IsFinite(absMax) ? absMax / 127f : 1f, 0, QuantizedType.Int8);

    /// <summary>ONNX QuantizeLinear of one value: saturate(round_half_even(x / scale) + zeroPoint).</summary>
    public int Quantize(float value)
    {
        var scaled = MathF.Round(value / Scale, MidpointRounding.ToEven) + ZeroPoint;
        return (int)Math.Clamp(scaled, Min, Max);
    }

    /// <summary>ONNX DequantizeLinear of one value.</summary>
    public float Dequantize(int quantized) => (quantized - ZeroPoint) * Scale;

    /// <summary>The value after a quantize/dequantize round trip.</summary>
    public float RoundTrip(float value) => Dequantize(Quantize(value));

    /// <summary>Quantizes <paramref name="values"/> into <paramref name="destination"/> (one byte per value).</summary>
    public void Quantize(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if (destination.Length != values.Length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; {values.Length} are needed.", nameof(destination));
        }

        for (var i = 0; i < values.Length; i++)
        {
            destination[i] = unchecked((byte)Quantize(values[i]));
        }
    }
}
