using YoloFleet.Onnx.Protos;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Onnx.Tests.Quantization;

public sealed class QuantizationMathTests
{
    [Theory]
    [InlineData(QuantizedType.UInt8, -3.7f, 12.2f)]
    [InlineData(QuantizedType.UInt8, 0f, 1f)]
    [InlineData(QuantizedType.UInt8, -0.28f, 75f)]
    [InlineData(QuantizedType.Int8, -5f, 2f)]
    [InlineData(QuantizedType.Int8, -0.01f, 0.02f)]
    public void Round_trip_error_inside_the_range_is_at_most_half_a_step(QuantizedType type, float min, float max)
    {
        var parameters = QuantizationParameters.ForRange(min, max, type);
        var random = new Random(42);
        var worst = 0f;
        for (var i = 0; i < 100_000; i++)
        {
            var value = min + (max - min) * random.NextSingle();
            worst = MathF.Max(worst, MathF.Abs(parameters.RoundTrip(value) - value));
        }

        // Half a step, plus float rounding of the scale and the zero-point shift of an asymmetric range.
        var bound = parameters.Scale * (type == QuantizedType.UInt8 ? 1.0f : 0.5f) * 1.0001f;
        Assert.True(worst <= bound, $"worst round-trip error {worst} exceeds {bound} (scale {parameters.Scale}, zero point {parameters.ZeroPoint})");
        Assert.InRange(parameters.ZeroPoint, parameters.Min, parameters.Max);
    }

    [Fact]
    public void Zero_is_exact_and_the_range_always_holds_it()
    {
        foreach (var (min, max) in new[] { (2f, 9f), (-9f, -2f), (-1.3f, 7.9f) })
        {
            var parameters = QuantizationParameters.ForRange(min, max, QuantizedType.UInt8);
            Assert.Equal(0f, parameters.RoundTrip(0f));
        }
    }

    [Fact]
    public void Quantize_rounds_half_to_even_and_saturates_like_onnx_QuantizeLinear()
    {
        var parameters = new QuantizationParameters(1f, 0, QuantizedType.UInt8);

        Assert.Equal(2, parameters.Quantize(2.5f));
        Assert.Equal(4, parameters.Quantize(3.5f));
        Assert.Equal(0, parameters.Quantize(-7f));
        Assert.Equal(255, parameters.Quantize(1000f));
        var signed = new QuantizationParameters(0.5f, 0, QuantizedType.Int8);
        Assert.Equal(-128, signed.Quantize(-500f));
        Assert.Equal(127, signed.Quantize(500f));
    }

    [Fact]
    public void Bad_ranges_are_refused_with_the_range_in_the_message()
    {
        var exception = Assert.Throws<ArgumentException>(() => QuantizationParameters.ForRange(3f, 1f, QuantizedType.UInt8));
        Assert.Contains("[3, 1]", exception.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => QuantizationParameters.ForRange(float.NaN, 1f, QuantizedType.UInt8));
    }

    [Fact]
    public void Tensors_round_trip_through_raw_data_and_typed_fields()
    {
        float[] values = [1.5f, -2.25f, 0f, 1e-7f, 3e5f, -0f];
        var raw = OnnxTensors.Float("w", [2, 3], values);
        Assert.Equal(values, OnnxTensors.ReadFloats(raw));

        var typed = new TensorProto { Name = "t", DataType = (int)TensorProto.Types.DataType.Float };
        typed.Dims.AddRange([2, 3]);
        typed.FloatData.AddRange(values);
        Assert.Equal(values, OnnxTensors.ReadFloats(typed));

        Assert.Equal([-7, 0, 2_000_000_000], OnnxTensors.ReadInt32s(OnnxTensors.Int32("b", [3], [-7, 0, 2_000_000_000])));
        Assert.Equal([-128, -1, 0, 127], OnnxTensors.ReadEightBit(OnnxTensors.EightBit("q", [4], QuantizedType.Int8, [0x80, 0xFF, 0, 0x7F])));
        Assert.Equal([128, 255, 0, 127], OnnxTensors.ReadEightBit(OnnxTensors.EightBit("q", [4], QuantizedType.UInt8, [0x80, 0xFF, 0, 0x7F])));
    }

    [Fact]
    public void A_tensor_whose_data_does_not_match_its_shape_is_named_in_the_error()
    {
        var tensor = OnnxTensors.Float("conv.weight", [4], [1f, 2f]);
        tensor.Dims[0] = 3;

        var exception = Assert.Throws<QuantizationException>(() => OnnxTensors.ReadFloats(tensor));
        Assert.Contains("conv.weight", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Percentile_keeps_the_bulk_and_drops_rare_outliers()
    {
        var collector = new TensorRangeCollector();
        var random = new Random(3);
        // Roughly normal (sum of uniforms, |x| <= 6) with two far outliers.
        var values = Enumerable.Range(0, 200_000).Select(_ => Enumerable.Range(0, 6).Sum(_ => random.NextSingle() * 2 - 1)).ToArray();
        values[17] = 500f;
        values[99] = -300f;
        collector.ObserveRange(values);
        collector.ObserveHistogram(values);

        var minMax = collector.Range(CalibrationMethod.MinMax);
        var percentile = collector.Range(CalibrationMethod.Percentile, 99.9);
        var entropy = collector.Range(CalibrationMethod.Entropy);

        Assert.Equal(new TensorRange(-300f, 500f), minMax);
        Assert.InRange(percentile.Max, 2.5f, 6f);
        Assert.InRange(percentile.Min, -6f, -2.5f);
        // Entropy judges at histogram resolution (1/1024 of max |x|), so it clips to a window of at least 256 bins.
        Assert.InRange(entropy.Max, 2f, 100f);
        Assert.True(entropy.Min >= -100f, $"entropy kept the outlier: {entropy}");
    }

    [Fact]
    public void Collecting_in_different_batch_splits_gives_the_same_range()
    {
        var random = new Random(5);
        var values = Enumerable.Range(0, 10_000).Select(_ => MathF.Exp(random.NextSingle() * 4) - 2).ToArray();
        var whole = new TensorRangeCollector();
        whole.ObserveRange(values);
        whole.ObserveHistogram(values);
        var pieces = new TensorRangeCollector();
        foreach (var chunk in values.Chunk(777))
        {
            pieces.ObserveRange(chunk);
        }

        foreach (var chunk in values.Chunk(333))
        {
            pieces.ObserveHistogram(chunk);
        }

        foreach (var method in Enum.GetValues<CalibrationMethod>())
        {
            Assert.Equal(whole.Range(method), pieces.Range(method));
        }
    }
}
