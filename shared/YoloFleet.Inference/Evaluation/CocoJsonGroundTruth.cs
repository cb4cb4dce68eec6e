using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// Ground truth as a COCO "instances" JSON file: images (id, file_name, width, height), annotations (image_id,
/// category_id, bbox [x, y, w, h] in pixels, iscrowd, area) and categories. COCO's category ids are sparse (1..90 for 80
/// classes); a model's classes are contiguous, so category ids map to class ids by rank: the smallest category id is
/// class 0, and so on, which is how the standard 80-class COCO models number their outputs. Images are evaluated in
/// image id order, as pycocotools does.
/// </summary>
public sealed class CocoJsonGroundTruth : GroundTruthSource
{
    private readonly Dictionary<long, ImageEntry> _imagesById;

    private CocoJsonGroundTruth(
        string annotationsPath, string imageFolder, IReadOnlyList<int> categoryIds, IReadOnlyList<string> categoryNames,
        IReadOnlyList<EvaluationImage> images, Dictionary<long, ImageEntry> imagesById, int annotationCount, int crowdCount)
    {
        AnnotationsPath = annotationsPath;
        ImageFolder = imageFolder;
        CategoryIds = categoryIds;
        CategoryNames = categoryNames;
        Images = images;
        _imagesById = imagesById;
        AnnotationCount = annotationCount;
        CrowdCount = crowdCount;
    }

    public string AnnotationsPath { get; }

    public string ImageFolder { get; }

    /// <summary>The COCO category ids in ascending order: the category id of class <c>i</c> is <c>CategoryIds[i]</c>.</summary>
    public IReadOnlyList<int> CategoryIds { get; }

    /// <summary>The category names, indexed by class id.</summary>
    public IReadOnlyList<string> CategoryNames { get; }

    public int AnnotationCount { get; }

    /// <summary>Annotations marked iscrowd = 1, which evaluation ignores rather than counts.</summary>
    public int CrowdCount { get; }

    public override IReadOnlyList<EvaluationImage> Images { get; }

    public override string Description => $"COCO JSON {AnnotationsPath} ({AnnotationCount} annotations, {CrowdCount} crowd)";

    /// <summary>Reads the annotations and checks that every image they list is in <paramref name="imageFolder"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The image folder is missing.</exception>
    /// <exception cref="FileNotFoundException">The annotations file is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not COCO JSON, refers to unknown images or categories, lists no images, or lists images that are not in the folder.</exception>
    public static CocoJsonGroundTruth Open(string imageFolder, string annotationsPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageFolder);
        ArgumentException.ThrowIfNullOrEmpty(annotationsPath);
        var folder = Path.GetFullPath(imageFolder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Image folder not found: '{folder}'.");
        }

        var path = Path.GetFullPath(annotationsPath);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"COCO annotations file not found: '{path}'.", path);
        }

        CocoFile file;
        try
        {
            using var stream = File.OpenRead(path);
            file = JsonSerializer.Deserialize(stream, CocoJsonContext.Default.CocoFile)
                ?? throw new InvalidDataException($"'{path}' holds JSON null, not COCO annotations.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{path}' is not COCO annotations JSON: {ex.Message}", ex);
        }

        if (file.Images is not { Count: > 0 } imageList)
        {
            throw new InvalidDataException($"'{path}' lists no images; COCO annotations need an \"images\" array.");
        }

        if (file.Categories is not { Count: > 0 } categories)
        {
            throw new InvalidDataException($"'{path}' lists no categories; COCO annotations need a \"categories\" array.");
        }

        var sortedCategories = categories.OrderBy(category => category.Id).ToList();
        var classIds = new Dictionary<int, int>();
        foreach (var category in sortedCategories)
        {
            if (!classIds.TryAdd(category.Id, classIds.Count))
            {
                throw new InvalidDataException($"'{path}' lists category id {category.Id} twice.");
            }
        }

        var imagesById = new Dictionary<long, ImageEntry>();
        foreach (var image in imageList)
        {
            if (string.IsNullOrEmpty(image.FileName) || image.Width <= 0 || image.Height <= 0)
            {
                throw new InvalidDataException($"'{path}': image id {image.Id} needs a file_name and a positive width and height.");
            }

            if (!imagesById.TryAdd(image.Id, new ImageEntry(Path.Combine(folder, image.FileName), image.Width, image.Height)))
            {
                throw new InvalidDataException($"'{path}' lists image id {image.Id} twice.");
            }
        }

        var annotationCount = 0;
        var crowdCount = 0;
        foreach (var annotation in file.Annotations ?? [])
        {
            if (!imagesById.TryGetValue(annotation.ImageId, out var entry))
            {
                throw new InvalidDataException($"'{path}': annotation {annotation.Id} refers to image id {annotation.ImageId}, which \"images\" does not list.");
            }

            if (!classIds.TryGetValue(annotation.CategoryId, out var classId))
            {
                throw new InvalidDataException($"'{path}': annotation {annotation.Id} refers to category id {annotation.CategoryId}, which \"categories\" does not list.");
            }

            if (annotation.Bbox is not [var x, var y, var width, var height] || !(width >= 0 && height >= 0) || !double.IsFinite(x) || !double.IsFinite(y))
            {
                throw new InvalidDataException($"'{path}': annotation {annotation.Id} needs a bbox [x, y, width, height] with a non-negative width and height.");
            }

            if (annotation.Area is { } area && !(area >= 0 && double.IsFinite(area)))
            {
                throw new InvalidDataException($"'{path}': annotation {annotation.Id} has area {area}; an area must be a finite number of 0 or more.");
            }

            // pycocotools sorts objects into small, medium and large by the annotation's area (the mask's), not the box's.
            var box = new GroundTruthBox(classId, x, y, x + width, y + height, annotation.IsCrowd != 0);
            entry.Boxes.Add(annotation.Area is { } given ? box with { Area = given } : box);
            annotationCount++;
            crowdCount += annotation.IsCrowd != 0 ? 1 : 0;
        }

        var missing = imagesById.Values.Where(image => !File.Exists(image.Path)).Select(image => image.Path).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidDataException(
                $"{missing.Count} of the {imagesById.Count} images that '{path}' lists are not in '{folder}', e.g. '{Path.GetFileName(missing[0])}'. " +
                "Point the image folder at the annotated images (every image listed counts towards mAP).");
        }

        var images = imagesById.OrderBy(entry => entry.Key)
            .Select(entry => new EvaluationImage(entry.Value.Path, entry.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        return new CocoJsonGroundTruth(
            path, folder, [.. sortedCategories.Select(category => category.Id)], [.. sortedCategories.Select(category => category.Name ?? $"category{category.Id}")],
            images, imagesById, annotationCount, crowdCount);
    }

    /// <summary>The class id of a COCO category id.</summary>
    /// <exception cref="KeyNotFoundException">The category is not in the file.</exception>
    public int ClassIdOf(int categoryId)
    {
        for (var classId = 0; classId < CategoryIds.Count; classId++)
        {
            if (CategoryIds[classId] == categoryId)
            {
                return classId;
            }
        }

        throw new KeyNotFoundException($"Category id {categoryId} is not in '{AnnotationsPath}'.");
    }

    /// <exception cref="InvalidDataException">The decoded image's size differs from the one the annotations give (a different or EXIF-rotated image).</exception>
    public override IReadOnlyList<GroundTruthBox> Read(EvaluationImage image, int imageWidth, int imageHeight)
    {
        var entry = Find(image);
        if (entry.Width != imageWidth || entry.Height != imageHeight)
        {
            throw new InvalidDataException(
                $"'{image.Path}' is {imageWidth}x{imageHeight}, but '{AnnotationsPath}' says {entry.Width}x{entry.Height} for image id {image.Key}; the boxes would not fit it.");
        }

        return entry.Boxes;
    }

    /// <summary>The objects of <paramref name="image"/>; the annotations give the size, so nothing is read from the image.</summary>
    public override IReadOnlyList<GroundTruthBox> Read(EvaluationImage image) => Find(image).Boxes;

    private ImageEntry Find(EvaluationImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return long.TryParse(image.Key, System.Globalization.CultureInfo.InvariantCulture, out var id) && _imagesById.TryGetValue(id, out var entry)
            ? entry
            : throw new ArgumentException($"Image '{image.Key}' ({image.Path}) is not one of this source's images.", nameof(image));
    }

    private sealed record ImageEntry(string Path, int Width, int Height)
    {
        public List<GroundTruthBox> Boxes { get; } = [];
    }
}

// The subset of COCO's format that box evaluation reads; everything else (segmentation, licences) is skipped.
internal sealed class CocoFile
{
    [JsonPropertyName("images")]
    public List<CocoImage>? Images { get; set; }

    [JsonPropertyName("annotations")]
    public List<CocoAnnotation>? Annotations { get; set; }

    [JsonPropertyName("categories")]
    public List<CocoCategory>? Categories { get; set; }
}

internal sealed class CocoImage
{
    [JsonPropertyName("id")]
    public long Id { get; set; }

    [JsonPropertyName("file_name")]
    public string? FileName { get; set; }

    [JsonPropertyName("width")]
    public int Width { get; set; }

    [JsonPropertyName("height")]
    public int Height { get; set; }
}

internal sealed class CocoAnnotation
{
    [JsonPropertyName("id")]
    public long Id { get; set; }

    [JsonPropertyName("image_id")]
    public long ImageId { get; set; }

    [JsonPropertyName("category_id")]
    public int CategoryId { get; set; }

    [JsonPropertyName("bbox")]
    public double[]? Bbox { get; set; }

    [JsonPropertyName("iscrowd")]
    public int IsCrowd { get; set; }

    /// <summary>The object's area in pixels (for COCO, the segmentation's); absent, the box's area stands in.</summary>
    [JsonPropertyName("area")]
    public double? Area { get; set; }
}

internal sealed class CocoCategory
{
    [JsonPropertyName("id")]
    public int Id { get; set; }

    [JsonPropertyName("name")]
    public string? Name { get; set; }
}

[JsonSerializable(typeof(CocoFile))]
internal sealed partial class CocoJsonContext : JsonSerializerContext;
