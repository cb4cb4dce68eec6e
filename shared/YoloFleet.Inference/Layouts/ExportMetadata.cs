using System.Globalization;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// What a model's exporter wrote into the ONNX metadata_props, as far as layout recognition cares. Ultralytics writes
/// every value as Python's <c>str()</c>: <c>names</c> "{0: 'person', ...}", <c>stride</c> "32", <c>imgsz</c>
/// "[640, 640]" (height, width), <c>task</c> "detect", and on end-to-end heads <c>end2end</c> "True"; YOLOv5's own
/// export.py writes <c>stride</c> and <c>names</c>. YOLOX and PaddleDetection exports write none of them.
/// </summary>
internal sealed record ExportMetadata
{
    public static ExportMetadata None { get; } = new();

    /// <summary>Class names from <c>names</c>, in class-id order; null when absent or unreadable.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>Why <c>names</c> could not be read, kept rather than thrown so that a manifest's names can stand in.</summary>
    public string? ClassNamesProblem { get; init; }

    /// <summary>The largest stride (32 for P5 heads, 64 for P6), from <c>stride</c>.</summary>
    public int? Stride { get; init; }

    public int? ImageWidth { get; init; }

    public int? ImageHeight { get; init; }

    /// <summary>The raw <c>imgsz</c> value, for messages when it cannot be read.</summary>
    public string? RawImageSize { get; init; }

    /// <summary>"detect", "segment", "pose", ... from <c>task</c>.</summary>
    public string? Task { get; init; }

    /// <summary>The head is NMS-free (<c>end2end</c> "True").</summary>
    public bool EndToEnd { get; init; }

    /// <summary>
    /// Written by Ultralytics or YOLOv5's exporter: it has <c>names</c> or <c>stride</c>, or author "Ultralytics".
    /// The producer name ("pytorch") says nothing here: YOLOX exports through torch.onnx too.
    /// </summary>
    public bool IsUltralytics { get; init; }

    public static ExportMetadata Read(IReadOnlyDictionary<string, string> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var names = properties.GetValueOrDefault("names");
        var stride = properties.GetValueOrDefault("stride");
        var imageSize = properties.GetValueOrDefault("imgsz");
        var author = properties.GetValueOrDefault("author");

        IReadOnlyList<string>? classNames = null;
        string? problem = null;
        if (names is not null)
        {
            try
            {
                classNames = PythonNamesLiteral.Parse(names);
            }
            catch (FormatException ex)
            {
                problem = ex.Message;
            }
        }

        var (width, height) = ParseImageSize(imageSize);
        return new ExportMetadata
        {
            ClassNames = classNames,
            ClassNamesProblem = problem,
            Stride = int.TryParse(stride, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : null,
            ImageWidth = width,
            ImageHeight = height,
            RawImageSize = imageSize,
            Task = properties.GetValueOrDefault("task")?.Trim(),
            EndToEnd = properties.GetValueOrDefault("end2end")?.Trim() is { } endToEnd &&
                (endToEnd.Equals("true", StringComparison.OrdinalIgnoreCase) || endToEnd == "1"),
            IsUltralytics = names is not null || stride is not null ||
                (author?.Contains("Ultralytics", StringComparison.OrdinalIgnoreCase) ?? false),
        };
    }

    /// <summary>"[640, 640]" or "(480, 640)" is height, width (Ultralytics' order); a single "640" is square.</summary>
    private static (int? Width, int? Height) ParseImageSize(string? value)
    {
        if (value is null)
        {
            return (null, null);
        }

        var parts = value.Trim().TrimStart('[', '(').TrimEnd(']', ')').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var sizes = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size <= 0)
            {
                return (null, null);
            }

            sizes.Add(size);
        }

        return sizes switch
        {
            [var side] => (side, side),
            [var height, var width] => (width, height),
            _ => (null, null),
        };
    }
}
