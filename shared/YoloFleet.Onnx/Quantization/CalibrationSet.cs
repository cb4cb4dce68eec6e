using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;

namespace YoloFleet.Onnx.Quantization;

/// <summary>Model inputs to calibrate on, read one at a time so that memory does not grow with the set.</summary>
public interface ICalibrationSet
{
    /// <summary>What the inputs are, for progress and the report.</summary>
    string Description { get; }

    int Count { get; }

    /// <summary>Writes input <paramref name="index"/> (the model's one float input, flattened) into <paramref name="input"/>.</summary>
    void Read(int index, Span<float> input);
}

/// <summary>Inputs already in memory (tests, synthetic data).</summary>
public sealed class InMemoryCalibrationSet(IReadOnlyList<float[]> inputs, string description = "in-memory inputs") : ICalibrationSet
{
    public string Description => description;

    public int Count => inputs.Count;

    public void Read(int index, Span<float> input) => inputs[index].CopyTo(input);
}

/// <summary>
/// The images of a folder (sorted by name, the first <c>maxImages</c>), pre-processed exactly as the detector does for
/// the FP32 model (letterbox or plain resize, channel order, mean and scale from its layout or manifest).
/// </summary>
public sealed class ImageFolderCalibrationSet : ICalibrationSet, IDisposable
{
    private readonly Detector _detector;
    private readonly string[] _files;

    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folder holds no images.</exception>
    public ImageFolderCalibrationSet(string fp32ModelPath, string folder, int maxImages, int skipImages = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImages, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(skipImages);
        var fullFolder = Path.GetFullPath(folder);
        if (!Directory.Exists(fullFolder))
        {
            throw new DirectoryNotFoundException($"Calibration folder not found: '{fullFolder}'. Pass --calib with a folder of images.");
        }

        _files = [.. BenchmarkImages.ImageFilesIn(fullFolder).Skip(skipImages).Take(maxImages)];
        if (_files.Length == 0)
        {
            throw new ArgumentException($"Calibration folder '{fullFolder}' holds no image files (after skipping {skipImages}).", nameof(folder));
        }

        _detector = Detector.Open(fp32ModelPath, new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error });
        Description = $"{_files.Length} images from {fullFolder}" + (skipImages > 0 ? $" (after the first {skipImages})" : "");
        Files = _files;
    }

    public string Description { get; }

    public int Count => _files.Length;

    public IReadOnlyList<string> Files { get; }

    public void Read(int index, Span<float> input)
    {
        using var image = ImageFile.Read(_files[index]);
        _detector.Preprocess(image, input);
    }

    public void Dispose() => _detector.Dispose();
}
