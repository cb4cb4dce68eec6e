using System.Text.Json;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>
/// One frame's detections as JSON: {"file", "frame", "width", "height", "detections": [{"classId", "className",
/// "score", "x1", "y1", "x2", "y2"}]}, coordinates in frame pixels with (x1, y1) the top-left corner.
/// </summary>
public static class DetectionJson
{
    public static void Write(
        Utf8JsonWriter writer, string file, int frame, int width, int height, IReadOnlyList<Detection> detections, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(classNames);
        writer.WriteStartObject();
        writer.WriteString("file", file);
        writer.WriteNumber("frame", frame);
        writer.WriteNumber("width", width);
        writer.WriteNumber("height", height);
        writer.WriteStartArray("detections");
        foreach (var detection in detections)
        {
            writer.WriteStartObject();
            writer.WriteNumber("classId", detection.ClassId);
            writer.WriteString("className", DetectionOverlay.ClassName(classNames, detection.ClassId));
            writer.WriteNumber("score", Math.Round(detection.Score, 4));
            writer.WriteNumber("x1", Math.Round(detection.X1, 1));
            writer.WriteNumber("y1", Math.Round(detection.Y1, 1));
            writer.WriteNumber("x2", Math.Round(detection.X2, 1));
            writer.WriteNumber("y2", Math.Round(detection.Y2, 1));
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
