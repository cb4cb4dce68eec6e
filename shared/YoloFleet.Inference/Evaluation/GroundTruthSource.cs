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

    /// <summary>
    /// The same ground truth without the images at <paramref name="paths"/> (compared as full paths): how an evaluation
    /// keeps out the images a model was calibrated or tuned on.
    /// </summary>
    public GroundTruthSource Without(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var excluded = new HashSet<string>(paths.Select(Path.GetFullPath), StringComparer.Ordinal);
        return new ImagesExcluded(this, excluded);
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

/// <summary>A ground truth with some of its images left out; see <see cref="GroundTruthSource.Without"/>.</summary>
internal sealed class ImagesExcluded(GroundTruthSource inner, HashSet<string> excluded) : GroundTruthSource
{
    private readonly IReadOnlyList<EvaluationImage> _images = [.. inner.Images.Where(image => !excluded.Contains(Path.GetFullPath(image.Path)))];

    public override string Description => $"{inner.Description}, {inner.Images.Count - _images.Count} images left out";

    public override IReadOnlyList<EvaluationImage> Images => _images;

    public override IReadOnlyList<GroundTruthBox> Read(EvaluationImage image, int imageWidth, int imageHeight) => inner.Read(image, imageWidth, imageHeight);

    public override IReadOnlyList<GroundTruthBox> Read(EvaluationImage image) => inner.Read(image);
}
