namespace YoloFleet.Inference.Evaluation;

/// <summary>An image to evaluate and the key its ground truth is filed under (a YOLO label stem, a COCO image id).</summary>
public sealed record EvaluationImage(string Path, string Key);

/// <summary>
/// Where the labelled objects of a set of images come from. The images are listed up front; their objects are read one
/// image at a time, so an evaluation never holds more than one image's labels beyond what the source itself indexes.
/// </summary>
public abstract class GroundTruthSource
{
    /// <summary>File extensions read as images (what OpenCV decodes), compared without case.</summary>
    public static IReadOnlyList<string> ImageExtensions { get; } = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"];

    /// <summary>One line saying what the ground truth is, for reports.</summary>
    public abstract string Description { get; }

    /// <summary>The images to evaluate, in evaluation order.</summary>
    public abstract IReadOnlyList<EvaluationImage> Images { get; }

    /// <summary>
    /// The objects of <paramref name="image"/> in pixels of the image as decoded (<see cref="ImageFile.Read"/>), which is
    /// the space detections are in; <paramref name="imageWidth"/> and <paramref name="imageHeight"/> are its decoded size.
    /// </summary>
    /// <exception cref="InvalidDataException">The labels are malformed or do not fit the image.</exception>
    public abstract IReadOnlyList<GroundTruthBox> Read(EvaluationImage image, int imageWidth, int imageHeight);

    /// <summary>The objects of <paramref name="image"/>, taking its size from the file's header instead of decoding it.</summary>
    public virtual IReadOnlyList<GroundTruthBox> Read(EvaluationImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (width, height) = ImageHeader.ReadSize(image.Path);
        return Read(image, width, height);
    }

    /// <summary>The image files directly in <paramref name="folder"/>, by file name (ordinal).</summary>
    public static IReadOnlyList<string> ListImages(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        return [.. Directory.EnumerateFiles(folder)
            .Where(path => ImageExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)];
    }
}
