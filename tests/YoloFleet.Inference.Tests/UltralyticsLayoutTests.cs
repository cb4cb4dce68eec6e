using OpenCvSharp;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Preprocessing;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>The YOLOv5, YOLOv8/YOLO11 and YOLOv10 decoders on crafted outputs, alone and behind a detector.</summary>
public sealed class UltralyticsLayoutTests
{
    // A 64x64 input has 8x8 + 4x4 + 2x2 = 84 cells over strides 8, 16, 32: v8 predicts 84, v5 3 x 84 = 252.
    private const int Cells64 = 84;

    private static TensorSignature Output(params int[] dimensions) => new("output0", dimensions);

    [Fact]
    public void Yolov8_reads_channel_major_predictions_and_picks_the_best_class()
    {
        var decoder = Assert.IsType<YoloV8Decoder>(ModelLayouts.Recognize(new ModelSignature(64, 64, [Output(1, 6, Cells64)])));
        var output = ChannelMajor(Cells64, channels: 6,
            (10, [32, 20, 16, 8, 0.1f, 0.9f]),
            (50, [8, 8, 4, 4, 0.6f, 0.6f]),     // a tie goes to the first class, as IndexOfMax does
            (70, [40, 40, 8, 8, 0.2f, 0.1f]));  // best class 0.2: below the threshold
        var candidates = new List<Detection>();

        decoder.Decode([output], 0.25f, candidates);

        Assert.Equal(2, decoder.ClassCount);
        Assert.Same(PreprocessSpec.Ultralytics, decoder.Preprocess);
        Assert.False(((IDetectionDecoder)decoder).IsNmsFree);
        Assert.Equal([new Detection(1, 0.9f, 24, 16, 40, 24), new Detection(0, 0.6f, 6, 6, 10, 10)], candidates);
    }

    [Fact]
    public void Yolov5_multiplies_objectness_by_the_class_score()
    {
        var decoder = Assert.IsType<YoloV5Decoder>(ModelLayouts.Recognize(new ModelSignature(64, 64, [Output(1, 3 * Cells64, 7)])));
        var rows = new float[3 * Cells64 * 7];
        new float[] { 32, 20, 16, 8, 0.8f, 0.5f, 0.9f }.CopyTo(rows, 5 * 7);
        new float[] { 32, 20, 16, 8, 0.9f, 0.2f, 0.2f }.CopyTo(rows, 100 * 7);  // 0.18: below
        new float[] { 32, 20, 16, 8, 0.1f, 1f, 1f }.CopyTo(rows, 200 * 7);      // objectness alone rules it out
        var candidates = new List<Detection>();

        decoder.Decode([rows], 0.25f, candidates);

        var box = Assert.Single(candidates);
        Assert.Equal(1, box.ClassId);
        Assert.Equal(0.72f, box.Score, 5);
        Assert.Equal((24f, 16f, 40f, 24f), (box.X1, box.Y1, box.X2, box.Y2));
        Assert.Equal(2, decoder.ClassCount);
        Assert.Same(PreprocessSpec.Ultralytics, decoder.Preprocess);
    }

    [Fact]
    public void Yolov10_keeps_final_boxes_above_the_threshold_with_a_valid_class()
    {
        var signature = new ModelSignature(64, 64, [Output(1, 300, 6)]) { ClassCountHint = 3 };
        var decoder = Assert.IsType<YoloV10Decoder>(ModelLayouts.Recognize(signature));
        var rows = new float[300 * 6];
        new float[] { 10, 10, 30, 30, 0.9f, 2 }.CopyTo(rows, 0);
        new float[] { 11, 11, 31, 31, 0.8f, 2 }.CopyTo(rows, 6);
        new float[] { 0, 0, 5, 5, 0.1f, 0 }.CopyTo(rows, 12);     // below the threshold
        new float[] { 0, 0, 5, 5, 0.9f, 7 }.CopyTo(rows, 18);     // no class 7 among 3
        new float[] { 0, 0, 5, 5, 0.9f, 1.5f }.CopyTo(rows, 24);  // not a class id
        var candidates = new List<Detection>();

        decoder.Decode([rows], 0.25f, candidates);

        Assert.Equal([new Detection(2, 0.9f, 10, 10, 30, 30), new Detection(2, 0.8f, 11, 11, 31, 31)], candidates);
        Assert.True(((IDetectionDecoder)decoder).IsNmsFree);
        Assert.Equal(3, decoder.ClassCount);
    }

    [Fact]
    public void Detector_maps_yolov8_boxes_back_through_a_centred_letterbox()
    {
        // A 128x64 frame into 64x64: ratio 0.5, the frame is 64x32 in the input, centred: 16 rows of padding above.
        var output = ChannelMajor(Cells64, channels: 6,
            (10, [32, 32, 16, 8, 0.1f, 0.9f]),    // input (24, 28)-(40, 36) -> frame (48, 24)-(80, 40)
            (20, [32, 8, 16, 8, 0.8f, 0.1f]),     // input (24, 4)-(40, 12): wholly in the top padding, dropped
            (30, [60, 48, 16, 8, 0.7f, 0f]),      // input (52, 44)-(68, 52): clamped at the frame's right and bottom edges
            (40, [32, 32, 16, 8, 0.2f, 0.2f]));   // below the threshold
        using var folder = new TempFolder();
        var path = folder.Write("yolov8.onnx", TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 6, Cells64], output,
            UltralyticsMetadata("{0: 'cat', 1: \"o'clock\"}")));

        using var detector = Detector.Open(path);
        var detections = Detect(detector, 128, 64);

        Assert.Equal("yolov8", detector.Model.Layout);
        Assert.Equal(["cat", "o'clock"], detector.Model.ClassNames);
        Assert.Equal(2, detections.Length);
        AssertDetection(detections[0], 1, 0.9f, 48, 24, 80, 40);
        AssertDetection(detections[1], 0, 0.7f, 104, 56, 128, 64);
    }

    [Fact]
    public void Detector_maps_yolov5_boxes_back_through_a_centred_letterbox()
    {
        var rows = new float[3 * Cells64 * 7];
        new float[] { 32, 32, 16, 8, 0.9f, 0.1f, 1f }.CopyTo(rows, 17 * 7);
        using var folder = new TempFolder();
        var path = folder.Write("yolov5.onnx", TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 3 * Cells64, 7], rows,
            new Dictionary<string, string> { ["stride"] = "32", ["names"] = "{0: 'a', 1: 'b'}" }));

        using var detector = Detector.Open(path);
        var detection = Assert.Single(Detect(detector, 128, 64));

        Assert.Equal("yolov5", detector.Model.Layout);
        Assert.Equal(["a", "b"], detector.Model.ClassNames);
        AssertDetection(detection, 1, 0.9f, 48, 24, 80, 40);
    }

    [Fact]
    public void Detector_runs_no_nms_on_yolov10_but_still_applies_threshold_and_max_detections()
    {
        var rows = new float[300 * 6];
        new float[] { 24, 28, 40, 36, 0.9f, 0 }.CopyTo(rows, 0);
        new float[] { 25, 28, 41, 36, 0.8f, 0 }.CopyTo(rows, 6);     // IoU about 0.9 with the first: NMS would drop it
        new float[] { 0, 16, 8, 24, 0.5f, 1 }.CopyTo(rows, 12);
        new float[] { 0, 16, 8, 24, 0.2f, 1 }.CopyTo(rows, 18);      // below the threshold
        using var folder = new TempFolder();
        var path = folder.Write("yolov10.onnx", TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 300, 6], rows,
            UltralyticsMetadata("{0: 'person', 1: 'car'}")));

        using var detector = Detector.Open(path);
        var detections = Detect(detector, 128, 64);
        using var capped = Detector.Open(path, new DetectorOptions { MaxDetections = 2 });
        var best2 = Detect(capped, 128, 64);

        Assert.Equal("yolov10", detector.Model.Layout);
        Assert.Equal(3, detections.Length);
        AssertDetection(detections[0], 0, 0.9f, 48, 24, 80, 40);
        AssertDetection(detections[1], 0, 0.8f, 50, 24, 82, 40);
        AssertDetection(detections[2], 1, 0.5f, 0, 0, 16, 16);
        Assert.Equal(detections[..2], best2);
    }

    [Fact]
    public void Yolov10_without_any_class_names_is_refused_with_the_fix()
    {
        using var folder = new TempFolder();
        var path = folder.Write("nameless.onnx", TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 300, 6], new float[300 * 6]));

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("yolov10", error.Message, StringComparison.Ordinal);
        Assert.Contains("classNames", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ultralytics_non_detect_task_is_refused()
    {
        using var folder = new TempFolder();
        var metadata = UltralyticsMetadata("{0: 'person'}");
        metadata["task"] = "pose";
        var path = folder.Write("pose.onnx", TinyOnnxModel.ConstantOutput(64, 64, "output0", [1, 56, Cells64], new float[56 * Cells64], metadata));

        var error = Assert.Throws<ModelLoadException>(() => Detector.Open(path));

        Assert.Contains("'pose'", error.Message, StringComparison.Ordinal);
        Assert.Contains("detect", error.Message, StringComparison.Ordinal);
    }

    internal static Dictionary<string, string> UltralyticsMetadata(string names, string imageSize = "[64, 64]") => new()
    {
        ["description"] = "Ultralytics YOLO11n model trained on tiny.yaml",
        ["author"] = "Ultralytics",
        ["version"] = "8.3.40",
        ["license"] = "AGPL-3.0 License (https://ultralytics.com/license)",
        ["stride"] = "32",
        ["task"] = "detect",
        ["batch"] = "1",
        ["imgsz"] = imageSize,
        ["names"] = names,
    };

    /// <summary>A [1, channels, count] channel-major output with the given predictions' values.</summary>
    internal static float[] ChannelMajor(int count, int channels, params (int Index, float[] Values)[] predictions)
    {
        var output = new float[channels * count];
        foreach (var (index, values) in predictions)
        {
            for (var channel = 0; channel < channels; channel++)
            {
                output[channel * count + index] = values[channel];
            }
        }

        return output;
    }

    private static Detection[] Detect(Detector detector, int frameWidth, int frameHeight)
    {
        using var frame = new Mat(frameHeight, frameWidth, MatType.CV_8UC3, Scalar.All(0));
        return detector.Detect(frame);
    }

    private static void AssertDetection(Detection detection, int classId, float score, float x1, float y1, float x2, float y2)
    {
        Assert.Equal(classId, detection.ClassId);
        Assert.Equal(score, detection.Score, 5);
        Assert.Equal(x1, detection.X1, 3);
        Assert.Equal(y1, detection.Y1, 3);
        Assert.Equal(x2, detection.X2, 3);
        Assert.Equal(y2, detection.Y2, 3);
    }
}
