using System.Globalization;
using OpenCvSharp;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>Draws detections onto a frame: a box per detection in a colour per class, labelled "class score".</summary>
public static class DetectionOverlay
{
    // A fixed palette, so a class keeps its colour from frame to frame and run to run.
    private static readonly Scalar[] Palette =
    [
        new(56, 56, 255), new(151, 157, 255), new(31, 112, 255), new(29, 178, 255), new(49, 210, 207), new(10, 249, 72),
        new(23, 204, 146), new(134, 219, 61), new(52, 147, 26), new(187, 212, 0), new(168, 153, 44), new(255, 194, 0),
        new(147, 69, 52), new(255, 115, 100), new(236, 24, 0), new(255, 56, 132), new(133, 0, 82), new(255, 56, 203),
        new(200, 149, 255), new(199, 55, 255),
    ];

    /// <summary>Draws <paramref name="detections"/> (frame pixels) onto <paramref name="image"/> (8-bit BGR) in place.</summary>
    public static void Draw(Mat image, IReadOnlyList<Detection> detections, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(classNames);

        // Scale lines and text with the frame so labels stay legible on 4K frames and small on thumbnails.
        var scale = Math.Max(image.Width, image.Height) / 1000.0;
        var thickness = Math.Max(1, (int)Math.Round(2 * scale));
        var fontScale = Math.Max(0.4, 0.6 * scale);
        foreach (var detection in detections)
        {
            var colour = Palette[detection.ClassId % Palette.Length];
            var topLeft = new Point((int)detection.X1, (int)detection.Y1);
            var bottomRight = new Point((int)detection.X2, (int)detection.Y2);
            Cv2.Rectangle(image, topLeft, bottomRight, colour, thickness, LineTypes.AntiAlias);

            var label = $"{ClassName(classNames, detection.ClassId)} {detection.Score.ToString("0.00", CultureInfo.InvariantCulture)}";
            var textSize = Cv2.GetTextSize(label, HersheyFonts.HersheySimplex, fontScale, thickness, out var baseline);
            // Above the box when there is room, inside it otherwise.
            var textTop = topLeft.Y - textSize.Height - baseline >= 0 ? topLeft.Y - textSize.Height - baseline : topLeft.Y;
            Cv2.Rectangle(image, new Rect(topLeft.X, textTop, textSize.Width, textSize.Height + baseline), colour, -1);
            Cv2.PutText(image, label, new Point(topLeft.X, textTop + textSize.Height), HersheyFonts.HersheySimplex, fontScale,
                Scalar.White, thickness, LineTypes.AntiAlias);
        }
    }

    /// <summary>The class's name, or its number when the model has fewer names.</summary>
    public static string ClassName(IReadOnlyList<string> classNames, int classId) =>
        classId >= 0 && classId < classNames.Count ? classNames[classId] : classId.ToString(CultureInfo.InvariantCulture);
}
