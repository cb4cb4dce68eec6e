namespace YoloFleet.Inference;

/// <summary>An image file is missing or cannot be decoded.</summary>
public sealed class ImageReadException : Exception
{
    public ImageReadException()
    {
    }

    public ImageReadException(string message)
        : base(message)
    {
    }

    public ImageReadException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public ImageReadException(string imagePath, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ImagePath = imagePath;
    }

    public string? ImagePath { get; }
}
