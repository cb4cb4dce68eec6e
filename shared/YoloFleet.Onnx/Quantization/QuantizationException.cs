namespace YoloFleet.Onnx.Quantization;

/// <summary>A model cannot be quantized as asked: it is already quantized, uses something unsupported, or the settings are wrong.</summary>
public sealed class QuantizationException : Exception
{
    public QuantizationException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
