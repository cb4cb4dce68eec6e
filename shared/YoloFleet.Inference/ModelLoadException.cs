namespace YoloFleet.Inference;

/// <summary>A model file is missing, is not valid ONNX, or has inputs or outputs that no supported layout matches.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException()
    {
    }

    public ModelLoadException(string message)
        : base(message)
    {
    }

    public ModelLoadException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public ModelLoadException(string modelPath, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ModelPath = modelPath;
    }

    public string? ModelPath { get; }
}
