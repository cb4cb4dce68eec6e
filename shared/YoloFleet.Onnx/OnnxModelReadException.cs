namespace YoloFleet.Onnx;

/// <summary>A file that should hold an ONNX model cannot be read as one.</summary>
public sealed class OnnxModelReadException : Exception
{
    public OnnxModelReadException(string path, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
    }

    /// <summary>The file that could not be read.</summary>
    public string Path { get; }
}
