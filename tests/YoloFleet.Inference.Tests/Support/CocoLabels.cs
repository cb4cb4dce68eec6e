using System.Globalization;

namespace YoloFleet.Inference.Tests.Support;

/// <summary>Reads coco128's YOLO-format labels ("class cx cy w h", normalised) as boxes in image pixels.</summary>
internal static class CocoLabels
{
    public static string ImagePath(string imageId) => System.IO.Path.Combine(SharedData.Coco128Images, imageId + ".jpg");

    public static List<Detection> Read(string imageId, int imageWidth, int imageHeight)
    {
        var boxes = new List<Detection>();
        foreach (var line in File.ReadLines(System.IO.Path.Combine(SharedData.Coco128Labels, imageId + ".txt")))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 5)
            {
                continue;
            }

            var values = parts.Skip(1).Select(part => float.Parse(part, CultureInfo.InvariantCulture)).ToArray();
            var (centreX, centreY, width, height) = (values[0] * imageWidth, values[1] * imageHeight, values[2] * imageWidth, values[3] * imageHeight);
            boxes.Add(new Detection(int.Parse(parts[0], CultureInfo.InvariantCulture), 1f,
                centreX - width / 2, centreY - height / 2, centreX + width / 2, centreY + height / 2));
        }

        return boxes;
    }

    /// <summary>
    /// How many labelled boxes are found: detections, best first, each claim the unmatched label of their class with
    /// the highest IoU, if it is at least <paramref name="minIou"/>.
    /// </summary>
    public static int CountMatched(IReadOnlyList<Detection> labels, IEnumerable<Detection> detections, float minIou = 0.5f)
    {
        var matched = new bool[labels.Count];
        var count = 0;
        foreach (var detection in detections.OrderByDescending(detection => detection.Score))
        {
            var best = -1;
            var bestIou = minIou;
            for (var i = 0; i < labels.Count; i++)
            {
                if (matched[i] || labels[i].ClassId != detection.ClassId)
                {
                    continue;
                }

                var iou = NonMaxSuppression.IntersectionOverUnion(labels[i], detection);
                if (iou >= bestIou)
                {
                    best = i;
                    bestIou = iou;
                }
            }

            if (best >= 0)
            {
                matched[best] = true;
                count++;
            }
        }

        return count;
    }
}
