using OpenCvSharp;
using YoloFleet.Inference;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>
/// Encoded frames (hard frames' JPEGs, image files) held in memory as the quantizer's calibration inputs, each decoded
/// and pre-processed on demand exactly as the FP32 model's detector does, like <see cref="ImageFolderCalibrationSet"/>.
/// </summary>
public sealed class EncodedFrameCalibrationSet : ICalibrationSet, IDisposable
{
    private readonly IReadOnlyList<EncodedFrame> _frames;
    private readonly Detector _detector;

    public EncodedFrameCalibrationSet(Detector fp32Detector, IReadOnlyList<EncodedFrame> frames, string description)
    {
        _detector = fp32Detector;
        _frames = frames.Count > 0 ? frames : throw new ArgumentException("No calibration frames.", nameof(frames));
        Description = description;
    }

    public string Description { get; }

    public int Count => _frames.Count;

    public void Read(int index, Span<float> input)
    {
        using var image = Decode(_frames[index]);
        _detector.Preprocess(image, input);
    }

    public void Dispose() => _detector.Dispose();

    /// <summary>The frame as a BGR image.</summary>
    /// <exception cref="QuantizationException">The bytes are not an image OpenCV decodes.</exception>
    public static Mat Decode(EncodedFrame frame)
    {
        var image = Cv2.ImDecode(frame.Bytes, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw new QuantizationException($"Frame {frame.Reference.Id} ({frame.Bytes.Length} bytes) is not an image OpenCV decodes.");
        }

        return image;
    }
}
