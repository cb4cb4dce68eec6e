namespace YoloFleet.Cloud.Data.Analytics;

/// <summary>
/// Class names for the analytics' rows. Every model the fleet runs is a COCO-80 detector (models/manifests), and the
/// detections table stores class ids only; an id outside COCO-80 is named "class{id}", as the detector names classes
/// it has no names for.
/// </summary>
public static class CocoClassNames
{
    private static readonly string[] Names =
    [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light", "fire hydrant",
        "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
        "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
        "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork",
        "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
        "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
        "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
        "hair drier", "toothbrush",
    ];

    public static string NameOf(int classId) => (uint)classId < (uint)Names.Length ? Names[classId] : $"class{classId}";

    /// <summary>The id of a class by its name (case-insensitive) or by its number; null when neither.</summary>
    public static int? Parse(string text)
    {
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id <= short.MaxValue)
        {
            return id;
        }

        var index = Array.FindIndex(Names, n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase));
        return index >= 0 ? index : null;
    }
}
