using OpenCvSharp;

namespace YoloFleet.Inference;

public static class ImageFile
{
    /// <summary>Reads an image file as 8-bit BGR, the format <see cref="Detector"/> expects. The caller owns the Mat.</summary>
    /// <exception cref="ImageReadException">The file is missing or OpenCV cannot decode it.</exception>
    public static Mat Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new ImageReadException(path, $"Image file not found: '{System.IO.Path.GetFullPath(path)}'.");
        }

        // OpenCV does not throw on undecodable files; it returns an empty Mat.
        var image = Cv2.ImRead(path, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new ImageReadException(path, $"Image file '{System.IO.Path.GetFullPath(path)}' could not be decoded (not an image format OpenCV reads, or truncated).");
        }

        return image;
    }
}
