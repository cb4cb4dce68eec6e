using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference;

/// <summary>
/// Runs a detection model on BGR frames: preprocess, ONNX Runtime, decode, NMS, map back to the frame. The input and
/// output tensors are ONNX Runtime values over managed arrays created once, so steady-state frames allocate almost
/// nothing. Not thread-safe: use one detector per thread (each owns its buffers).
/// </summary>
public sealed class Detector : IDisposable
{
    private const string AllowSpinningKey = "session.intra_op.allow_spinning";

    private readonly SessionOptions _sessionOptions;
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly IDetectionDecoder _decoder;
    private readonly FramePreprocessor _preprocessor;

    private readonly float[] _input;
    private readonly float[][] _outputs;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly OrtValue[] _inputValues;
    private readonly OrtValue[] _outputValues;
    private readonly List<Detection> _candidates = new(capacity: 1024);

    private readonly float _confidenceThreshold;
    private readonly float _nmsIouThreshold;
    private readonly int _maxDetections;
    private readonly bool _classAgnosticNms;

    private bool _disposed;

    private Detector(
        ModelInfo model, SessionOptions sessionOptions, InferenceSession session, string inputName, IDetectionDecoder decoder, DetectorOptions options)
    {
        Model = model;
        _sessionOptions = sessionOptions;
        _session = session;
        _decoder = decoder;
        _confidenceThreshold = options.ConfidenceThreshold;
        _nmsIouThreshold = options.NmsIouThreshold;
        _maxDetections = options.MaxDetections;
        _classAgnosticNms = options.ClassAgnosticNms;

        _preprocessor = new FramePreprocessor(decoder.Preprocess, model.InputWidth, model.InputHeight);
        _input = new float[_preprocessor.InputLength];
        _inputNames = [inputName];
        _inputValues = [OrtValue.CreateTensorValueFromMemory(_input, [1, 3, model.InputHeight, model.InputWidth])];

        // ONNX Runtime writes the outputs straight into these arrays (it pins them for the value's lifetime).
        _outputNames = [.. decoder.Outputs.Select(output => output.Name)];
        _outputs = [.. decoder.Outputs.Select(output => new float[output.Dimensions.Aggregate(1, (length, dimension) => length * dimension)])];
        _outputValues = [.. decoder.Outputs.Select((output, i) =>
            OrtValue.CreateTensorValueFromMemory(_outputs[i], [.. output.Dimensions.Select(dimension => (long)dimension)]))];
    }

    public ModelInfo Model { get; }

    /// <summary>Where the most recent <see cref="Detect(Mat, List{Detection})"/> call spent its time.</summary>
    public FrameTimings LastTimings { get; private set; }

    /// <summary>Loads a model and recognises its layout from its output shapes.</summary>
    /// <exception cref="ModelLoadException">The file is missing, is not valid ONNX, or matches no supported layout.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static Detector Open(string modelPath, DetectorOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        options ??= new DetectorOptions();
        options.Validate();

        var fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
        {
            throw new ModelLoadException(fullPath, $"Model file not found: '{fullPath}'.");
        }

        var version = VersionOf(fullPath);
        var sessionOptions = CreateSessionOptions(options);
        InferenceSession session;
        try
        {
            session = new InferenceSession(fullPath, sessionOptions);
        }
        catch (OnnxRuntimeException ex)
        {
            sessionOptions.Dispose();
            throw new ModelLoadException(fullPath, $"'{fullPath}' is not a valid ONNX model: {ex.Message}", ex);
        }

        try
        {
            var (inputName, inputWidth, inputHeight) = ReadImageInput(fullPath, session);
            var signature = new ModelSignature(inputWidth, inputHeight, ReadFloatOutputs(session));
            var decoder = ModelLayouts.Recognize(signature)
                ?? throw new ModelLoadException(fullPath,
                    $"'{fullPath}' has outputs that match no supported layout. Outputs: {DescribeOutputs(session)}. " +
                    $"Input: {inputName} [1,3,{inputHeight},{inputWidth}]. Supported layouts: {string.Join("; ", ModelLayouts.Supported)}.");

            if (decoder.Outputs.FirstOrDefault(output => output.Dimensions.Any(dimension => dimension <= 0)) is { } open)
            {
                throw new ModelLoadException(fullPath,
                    $"'{fullPath}' looks like layout {decoder.Layout}, but its output {open} has an open dimension; export it with fixed shapes.");
            }

            var classNames = ClassNames.Load(fullPath, decoder.ClassCount);
            var model = new ModelInfo(fullPath, version, decoder.Layout, inputWidth, inputHeight, classNames);
            return new Detector(model, sessionOptions, session, inputName, decoder, options);
        }
        catch
        {
            session.Dispose();
            sessionOptions.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Detects objects in an 8-bit BGR frame (grey and BGRA are converted). Clears <paramref name="results"/> and fills it
    /// with detections in frame pixels, best score first. Reusing one list across frames avoids all per-frame allocation.
    /// </summary>
    public void Detect(Mat bgrImage, List<Detection> results)
    {
        ArgumentNullException.ThrowIfNull(bgrImage);
        ArgumentNullException.ThrowIfNull(results);
        ObjectDisposedException.ThrowIf(_disposed, this);

        var started = Stopwatch.GetTimestamp();
        var transform = _preprocessor.Write(bgrImage, _input);
        var preprocessed = Stopwatch.GetTimestamp();

        _session.Run(_runOptions, _inputNames, _inputValues, _outputNames, _outputValues);
        var inferred = Stopwatch.GetTimestamp();

        results.Clear();
        _candidates.Clear();
        _decoder.Decode(_outputs, _confidenceThreshold, _candidates);
        _candidates.Sort(NonMaxSuppression.ByScoreDescending);
        NonMaxSuppression.Apply(CollectionsMarshal.AsSpan(_candidates), _nmsIouThreshold, _classAgnosticNms, _maxDetections, results);

        // NMS runs in model-input pixels, as the reference decoders do; only the survivors are mapped back.
        var kept = CollectionsMarshal.AsSpan(results);
        for (var i = 0; i < kept.Length; i++)
        {
            kept[i] = transform.ToOriginal(kept[i]);
        }

        // A box lying wholly in the padding clamps to nothing; it is not an object in the frame.
        results.RemoveAll(static detection => detection.Width <= 0f || detection.Height <= 0f);
        var finished = Stopwatch.GetTimestamp();

        LastTimings = new FrameTimings(
            Stopwatch.GetElapsedTime(started, preprocessed).TotalMilliseconds,
            Stopwatch.GetElapsedTime(preprocessed, inferred).TotalMilliseconds,
            Stopwatch.GetElapsedTime(inferred, finished).TotalMilliseconds);
    }

    /// <summary>Convenience form of <see cref="Detect(Mat, List{Detection})"/> that allocates a new array per call.</summary>
    public Detection[] Detect(Mat bgrImage)
    {
        var results = new List<Detection>();
        Detect(bgrImage, results);
        return [.. results];
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var value in _inputValues.Concat(_outputValues))
        {
            value.Dispose();
        }

        _session.Dispose();
        _sessionOptions.Dispose();
        _runOptions.Dispose();
        _preprocessor.Dispose();
    }

    private static string VersionOf(string path)
    {
        using var stream = File.OpenRead(path);
        var hash = SHA256.HashData(stream);
        return $"{Path.GetFileNameWithoutExtension(path)}@{Convert.ToHexStringLower(hash)[..12]}";
    }

    private static SessionOptions CreateSessionOptions(DetectorOptions options)
    {
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            // One image per run, one operator at a time: an inter-op pool would only add threads.
            InterOpNumThreads = 1,
        };
        sessionOptions.AddSessionConfigEntry(AllowSpinningKey, options.AllowSpinning ? "1" : "0");
        return sessionOptions;
    }

    /// <summary>The one image input, float [1|N, 3, H, W] with a fixed H and W.</summary>
    private static (string Name, int Width, int Height) ReadImageInput(string path, InferenceSession session)
    {
        var inputs = session.InputMetadata;
        if (inputs.Count != 1)
        {
            throw new ModelLoadException(path,
                $"'{path}' has {inputs.Count} inputs ({string.Join(", ", inputs.Select(input => Describe(input.Key, input.Value)))}); a detector needs exactly one image input [1,3,H,W].");
        }

        var (name, metadata) = inputs.First();
        if (metadata.ElementType != typeof(float) || metadata.Dimensions is not [1 or -1, 3, > 0 and var height, > 0 and var width])
        {
            throw new ModelLoadException(path,
                $"'{path}' has input {Describe(name, metadata)}; a detector needs a float32 image input [1,3,H,W] with a fixed H and W.");
        }

        return (name, width, height);
    }

    /// <summary>The float tensor outputs, with an open batch dimension read as 1 (one frame per run).</summary>
    private static List<TensorSignature> ReadFloatOutputs(InferenceSession session)
    {
        var outputs = new List<TensorSignature>();
        foreach (var name in session.OutputNames)
        {
            var metadata = session.OutputMetadata[name];
            if (!metadata.IsTensor || metadata.ElementType != typeof(float))
            {
                continue;
            }

            int[] dimensions = [.. metadata.Dimensions];
            if (dimensions is [-1, ..])
            {
                dimensions[0] = 1;
            }

            outputs.Add(new TensorSignature(name, dimensions));
        }

        return outputs;
    }

    private static string DescribeOutputs(InferenceSession session) =>
        string.Join(", ", session.OutputNames.Select(name => Describe(name, session.OutputMetadata[name])));

    private static string Describe(string name, NodeMetadata metadata) =>
        metadata.IsTensor
            ? $"{name} {metadata.ElementType.Name} [{string.Join(',', metadata.Dimensions)}]"
            : $"{name} ({metadata.OnnxValueType})";
}
