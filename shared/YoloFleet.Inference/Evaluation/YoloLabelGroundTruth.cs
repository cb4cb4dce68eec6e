using System.Globalization;

namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// Ground truth as YOLO text labels: for each image "&lt;stem&gt;.jpg" a file "&lt;stem&gt;.txt" in the label folder, one
/// object per line as "class cx cy w h" with the box normalised to the image size. An image without a label file has no
/// objects (YOLO's convention for background images). YOLO labels have no crowd regions.
/// </summary>
public sealed class YoloLabelGroundTruth : GroundTruthSource
{
    private YoloLabelGroundTruth(string imageFolder, string labelFolder, IReadOnlyList<EvaluationImage> images)
    {
        ImageFolder = imageFolder;
        LabelFolder = labelFolder;
        Images = images;
    }

    public string ImageFolder { get; }

    public string LabelFolder { get; }

    public override IReadOnlyList<EvaluationImage> Images { get; }

    public override string Description => $"YOLO labels in {LabelFolder}";

    /// <summary>The folder YOLO's layout puts labels in: "labels" beside the image folder ("images").</summary>
    public static string DefaultLabelFolder(string imageFolder)
    {
        var full = Path.GetFullPath(imageFolder).TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(full) ?? full, "labels");
    }

    /// <summary>Lists the images in <paramref name="imageFolder"/> and pairs them with <paramref name="labelFolder"/> (default: <see cref="DefaultLabelFolder"/>).</summary>
    /// <exception cref="DirectoryNotFoundException">Either folder is missing.</exception>
    /// <exception cref="InvalidDataException">The image folder holds no images.</exception>
    public static YoloLabelGroundTruth Open(string imageFolder, string? labelFolder = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageFolder);
        var images = Path.GetFullPath(imageFolder);
        if (!Directory.Exists(images))
        {
            throw new DirectoryNotFoundException($"Image folder not found: '{images}'.");
        }

        var files = ListImages(images);
        if (files.Count == 0)
        {
            throw new InvalidDataException($"No images in '{images}' (looked for {string.Join(", ", ImageExtensions)}).");
        }

        var labels = Path.GetFullPath(labelFolder ?? DefaultLabelFolder(images));
        if (!Directory.Exists(labels))
        {
            throw new DirectoryNotFoundException(
                $"YOLO label folder not found: '{labels}'. YOLO labels live in 'labels' beside the image folder; pass the folder that holds the <image>.txt files, or COCO JSON annotations instead.");
        }

        return new YoloLabelGroundTruth(images, labels,
            [.. files.Select(path => new EvaluationImage(path, Path.GetFileNameWithoutExtension(path)))]);
    }

    public override IReadOnlyList<GroundTruthBox> Read(EvaluationImage image, int imageWidth, int imageHeight)
    {
        ArgumentNullException.ThrowIfNull(image);
        var labelPath = Path.Combine(LabelFolder, image.Key + ".txt");
        return File.Exists(labelPath) ? ParseFile(labelPath, imageWidth, imageHeight) : [];
    }

    /// <summary>Reads one YOLO label file as boxes in pixels of a <paramref name="imageWidth"/> x <paramref name="imageHeight"/> image.</summary>
    /// <exception cref="InvalidDataException">A line is not "class cx cy w h" with a class id of 0 or more and non-negative sizes.</exception>
    public static List<GroundTruthBox> ParseFile(string labelPath, int imageWidth, int imageHeight)
    {
        ArgumentException.ThrowIfNullOrEmpty(labelPath);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageHeight, 1);

        var boxes = new List<GroundTruthBox>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(labelPath))
        {
            lineNumber++;
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0)
            {
                continue;
            }

            if (fields.Length != 5
                || !int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var classId) || classId < 0
                || !TryParse(fields[1], out var centreX) || !TryParse(fields[2], out var centreY)
                || !TryParse(fields[3], out var width) || !TryParse(fields[4], out var height)
                || width < 0 || height < 0)
            {
                throw new InvalidDataException(
                    $"{labelPath}:{lineNumber}: expected 'class cx cy w h' (a class id of 0 or more, then the box centre and size normalised to 0..1), got '{line.Trim()}'.");
            }

            // As Ultralytics' xywhn2xyxy: scale the normalised box to the image, then take the corners.
            boxes.Add(new GroundTruthBox(
                classId,
                (centreX - width / 2) * imageWidth,
                (centreY - height / 2) * imageHeight,
                (centreX + width / 2) * imageWidth,
                (centreY + height / 2) * imageHeight));
        }

        return boxes;
    }

    private static bool TryParse(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
