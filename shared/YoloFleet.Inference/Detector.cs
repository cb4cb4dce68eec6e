using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference;

/// <summary>
/// Runs a detection model on BGR frames: preprocess, ONNX Runtime, decode, NMS, map back to the frame. The input and
/// output tensors are ONNX Runtime values over managed arrays created once and bound once, so steady-state frames
/// allocate nothing on the managed heap (`yolofleet bench` measures it). Not thread-safe: use one detector per thread (each owns its buffers).
/// </summary>
public sealed class Detector : IDisposable
{
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
    private readonly List<DetectorSlot> _slots = [];

    // The preallocated input and outputs bound once. RunWithBinding allocates nothing per call, whereas Run(names, values)
    // builds managed arrays of names and handles every frame; its speed is the same (docs/benchmarks.md).
    private OrtIoBinding? _binding;

    private readonly float _confidenceThreshold;
    private readonly float _nmsIouThreshold;
    private readonly int _maxDetections;
    private readonly bool _classAgnosticNms;

    private bool _disposed;

    private Detector(
        ModelInfo model, SessionOptions sessionOptions, InferenceSession session, string inputName, IDetectionDecoder decoder,
        PreprocessSpec preprocess, DetectionThresholds thresholds)
    {
        Model = model;
        Thresholds = thresholds;
        _sessionOptions = sessionOptions;
        _session = session;
        _decoder = decoder;
        _confidenceThreshold = thresholds.Confidence;
        // An end-to-end head has already removed duplicates: at IoU 1 nothing is suppressed, so NMS only caps the count.
        _nmsIouThreshold = decoder.IsNmsFree ? 1f : thresholds.NmsIou;
        _maxDetections = thresholds.MaxDetections;
        _classAgnosticNms = thresholds.ClassAgnostic;

        _preprocessor = new FramePreprocessor(preprocess, model.InputWidth, model.InputHeight);
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

    /// <summary>
    /// The thresholds in effect: each from the options the caller set, else the manifest, else the defaults. An
    /// NMS-free layout (yolov10) runs no NMS whatever <see cref="DetectionThresholds.NmsIou"/> says.
    /// </summary>
    public DetectionThresholds Thresholds { get; }

    /// <summary>Where the most recent <see cref="Detect(Mat, List{Detection})"/> call spent its time.</summary>
    public FrameTimings LastTimings { get; private set; }

    /// <summary>
    /// Loads a model, applies its manifest, and recognises its layout from its output shapes and ONNX metadata (the
    /// rule is in <see cref="ModelLayouts"/>). Without <paramref name="manifest"/>, the manifest beside the model
    /// ("&lt;model file name&gt;.manifest.json") is used when there is one. Each threshold comes from
    /// <paramref name="options"/> if the caller set it, else from the manifest, else from <see cref="DetectionThresholds.Default"/>.
    /// </summary>
    /// <exception cref="ModelLoadException">
    /// The file is missing, is not valid ONNX, or matches no supported layout; or the manifest is invalid or contradicts
    /// the model (hash, size, input size, layout, class count).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static Detector Open(string modelPath, DetectorOptions? options = null, ModelManifest? manifest = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        options ??= new DetectorOptions();
        options.Validate();

        var fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
        {
            throw new ModelLoadException(fullPath, $"Model file not found: '{fullPath}'.");
        }

        // A manifest built in code gets the same field checks as one loaded from a file.
        manifest = manifest is null ? ManifestChecks.Discover(fullPath) : ManifestChecks.Validated(manifest, fullPath);
        var sha256 = Sha256Of(fullPath);
        if (manifest is not null)
        {
            ManifestChecks.CheckModelFile(manifest, fullPath, sha256, new FileInfo(fullPath).Length);
        }

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
            var exportMetadata = ExportMetadata.Read(session.ModelMetadata.CustomMetadataMap);
            if (exportMetadata.Task is { } task && task != "detect")
            {
                throw new ModelLoadException(fullPath, $"'{fullPath}' is a '{task}' model (ONNX metadata 'task'); the detector runs 'detect' models only.");
            }

            var (inputName, inputWidth, inputHeight) = ReadImageInput(fullPath, session, manifest, exportMetadata);
            var signature = new ModelSignature(inputWidth, inputHeight, ReadFloatOutputs(session))
            {
                Metadata = exportMetadata,
                ClassCountHint = ClassNames.CountHint(fullPath, manifest, exportMetadata),
            };
            var decoder = manifest?.Layout is { } layout
                ? ManifestChecks.CreateNamedLayout(manifest, fullPath, layout, signature)
                : ModelLayouts.Recognize(signature)
                    ?? throw new ModelLoadException(fullPath,
                        $"'{fullPath}' has outputs that match no supported layout. Outputs: {DescribeOutputs(session)}. " +
                        $"Input: {inputName} [1,3,{inputHeight},{inputWidth}]. Supported layouts: {string.Join("; ", ModelLayouts.Supported)}.");

            if (decoder.Outputs.FirstOrDefault(output => output.Dimensions.Any(dimension => dimension <= 0)) is { } open)
            {
                throw new ModelLoadException(fullPath,
                    $"'{fullPath}' looks like layout {decoder.Layout}, but its output {open} has an open dimension; export it with fixed shapes.");
            }

            if (decoder.ClassCount <= 0)
            {
                throw new ModelLoadException(fullPath,
                    $"'{fullPath}' looks like layout {decoder.Layout}, whose outputs do not show how many classes it has, and nothing names them. " +
                    "Give the class names in a manifest's classNames, the ONNX metadata 'names', or a .names file beside the model.");
            }

            var classNames = ClassNames.Resolve(fullPath, decoder.Layout, decoder.ClassCount, manifest, exportMetadata);
            var preprocess = manifest?.Preprocessing?.ApplyTo(decoder.Preprocess) ?? decoder.Preprocess;
            var thresholds = options.ResolveThresholds(manifest?.Thresholds?.ToThresholds());
            var version = $"{Path.GetFileNameWithoutExtension(fullPath)}@{sha256[..12]}";
            var model = new ModelInfo(fullPath, version, decoder.Layout, inputWidth, inputHeight, classNames)
            {
                Sha256 = sha256,
                Precision = ModelManifest.ParsePrecision(manifest?.Precision) ?? ModelPrecision.Unknown,
                Manifest = manifest,
            };
            return new Detector(model, sessionOptions, session, inputName, decoder, preprocess, thresholds);
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

        _session.RunWithBinding(_runOptions, _binding ??= BindPreallocated());
        var inferred = Stopwatch.GetTimestamp();

        DecodeInto(_outputs, transform, results);
        var finished = Stopwatch.GetTimestamp();

        LastTimings = new FrameTimings(
            Stopwatch.GetElapsedTime(started, preprocessed).TotalMilliseconds,
            Stopwatch.GetElapsedTime(preprocessed, inferred).TotalMilliseconds,
            Stopwatch.GetElapsedTime(inferred, finished).TotalMilliseconds);
    }

    private void DecodeInto(float[][] outputs, ImageTransform transform, List<Detection> results)
    {
        results.Clear();
        _candidates.Clear();
        _decoder.Decode(outputs, _confidenceThreshold, _candidates);
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
    }

    /// <summary>
    /// A new set of input and output buffers for the staged calls (<see cref="Preprocess"/>, <see cref="Infer"/>,
    /// <see cref="Postprocess"/>), so that an overlapped pipeline can preprocess frame N+1 while frame N infers. Each
    /// slot is allocated and bound once; the detector disposes its slots with itself.
    /// </summary>
    public DetectorSlot CreateSlot()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var slot = new DetectorSlot(
            this, _session, _inputNames[0], _outputNames, _input.Length, [1, 3, Model.InputHeight, Model.InputWidth],
            [.. _outputValues.Select(value => value.GetTensorTypeAndShape().Shape)]);
        lock (_slots)
        {
            _slots.Add(slot);
        }

        return slot;
    }

    /// <summary>
    /// Stage 1 of 3: writes <paramref name="bgrImage"/> into the slot's input. The three stages may run on three
    /// threads at once on different slots, but each stage on one thread at a time; do not mix them with
    /// <see cref="Detect(Mat, List{Detection})"/> concurrently (it shares the preprocessor and the decoder).
    /// </summary>
    public void Preprocess(Mat bgrImage, DetectorSlot slot)
    {
        ArgumentNullException.ThrowIfNull(bgrImage);
        CheckSlot(slot);
        var started = Stopwatch.GetTimestamp();
        slot.Transform = _preprocessor.Write(bgrImage, slot.Input);
        slot.Timings = new FrameTimings(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 0, 0);
    }

    /// <summary>Stage 2 of 3: runs the model on the slot's input into the slot's outputs.</summary>
    public void Infer(DetectorSlot slot)
    {
        CheckSlot(slot);
        var started = Stopwatch.GetTimestamp();
        _session.RunWithBinding(_runOptions, slot.Binding);
        slot.Timings = slot.Timings with { InferenceMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds };
    }

    /// <summary>Stage 3 of 3: decodes the slot's outputs into <paramref name="results"/>, as <see cref="Detect(Mat, List{Detection})"/> does.</summary>
    public void Postprocess(DetectorSlot slot, List<Detection> results)
    {
        CheckSlot(slot);
        ArgumentNullException.ThrowIfNull(results);
        var started = Stopwatch.GetTimestamp();
        DecodeInto(slot.Outputs, slot.Transform, results);
        slot.Timings = slot.Timings with { PostprocessMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds };
    }

    private void CheckSlot(DetectorSlot slot)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (slot.Owner != this)
        {
            throw new ArgumentException("The slot was created by another detector; use this detector's CreateSlot().", nameof(slot));
        }
    }

    /// <summary>
    /// Runs the model once more on the input <see cref="Detect(Mat, List{Detection})"/> last wrote, this time with
    /// outputs that ONNX Runtime allocates itself, and compares their shapes with those the layout expects (and the
    /// detector's bound buffers have). A model can declare one shape and produce another; with the buffers bound, such
    /// a run may neither fail nor fill them. Null when every output matches; otherwise which one differs and how. For
    /// health checks, not per frame: it allocates.
    /// </summary>
    public string? CheckOutputShapes()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var outputs = _session.Run(_runOptions, _inputNames, _inputValues, _outputNames);
        var i = 0;
        foreach (var output in outputs)
        {
            var actual = output.GetTensorTypeAndShape().Shape;
            var expected = _outputValues[i].GetTensorTypeAndShape().Shape;
            if (!actual.AsSpan().SequenceEqual(expected))
            {
                return $"output '{_outputNames[i]}' is [{string.Join(',', actual)}]; layout {Model.Layout} expects [{string.Join(',', expected)}]";
            }

            i++;
        }

        return null;
    }

    /// <summary>Convenience form of <see cref="Detect(Mat, List{Detection})"/> that allocates a new array per call.</summary>
    public Detection[] Detect(Mat bgrImage)
    {
        var results = new List<Detection>();
        Detect(bgrImage, results);
        return [.. results];
    }

    /// <summary>
    /// Writes the model input for <paramref name="bgrImage"/> ([1,3,H,W] floats, 3 x InputWidth x InputHeight) into
    /// <paramref name="input"/> exactly as <see cref="Detect(Mat, List{Detection})"/> would; the INT8 quantizer calibrates on it.
    /// </summary>
    public void Preprocess(Mat bgrImage, Span<float> input)
    {
        ArgumentNullException.ThrowIfNull(bgrImage);
        ObjectDisposedException.ThrowIf(_disposed, this);
        _preprocessor.Write(bgrImage, input);
    }

    /// <summary>
    /// Runs the model alone on what the input buffer already holds (the last frame's preprocessed input): the same
    /// session, buffers and call as <see cref="Detect(Mat, List{Detection})"/> without pre- and post-processing. The
    /// bench alternates it with whole frames to show how much of a frame the model itself is.
    /// </summary>
    internal void RunModelOnly()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _session.RunWithBinding(_runOptions, _binding ??= BindPreallocated());
    }

    /// <summary>
    /// <see cref="RunModelOnly"/> through the plain Run(names, values) call instead of the IO binding, so that the bench
    /// can show what the binding changes.
    /// </summary>
    internal void RunModelUnbound()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _session.Run(_runOptions, _inputNames, _inputValues, _outputNames, _outputValues);
    }

    private OrtIoBinding BindPreallocated()
    {
        var binding = _session.CreateIoBinding();
        binding.BindInput(_inputNames[0], _inputValues[0]);
        for (var i = 0; i < _outputNames.Length; i++)
        {
            binding.BindOutput(_outputNames[i], _outputValues[i]);
        }

        return binding;
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

        _binding?.Dispose();
        lock (_slots)
        {
            foreach (var slot in _slots)
            {
                slot.Dispose();
            }
        }

        _session.Dispose();
        _sessionOptions.Dispose();
        _runOptions.Dispose();
        _preprocessor.Dispose();
    }

    private static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static SessionOptions CreateSessionOptions(DetectorOptions options) => options.ToSessionOptions();

    /// <summary>
    /// The one image input, float [1|N, 3, H, W]. A fixed H and W must agree with the manifest's input; open ones
    /// (a dynamic export) take the manifest's input, else the ONNX metadata's imgsz.
    /// </summary>
    private static (string Name, int Width, int Height) ReadImageInput(
        string path, InferenceSession session, ModelManifest? manifest, ExportMetadata exportMetadata)
    {
        var inputs = session.InputMetadata;
        if (inputs.Count != 1)
        {
            throw new ModelLoadException(path,
                $"'{path}' has {inputs.Count} inputs ({string.Join(", ", inputs.Select(input => Describe(input.Key, input.Value)))}); a detector needs exactly one image input [1,3,H,W].");
        }

        var (name, metadata) = inputs.First();
        var isImage = metadata.ElementType == typeof(float) && metadata.Dimensions is [1 or -1, 3, >= -1 and not 0, >= -1 and not 0];
        if (isImage && metadata.Dimensions is [_, _, > 0 and var height, > 0 and var width])
        {
            if (manifest is not null)
            {
                ManifestChecks.CheckInput(manifest, path, width, height);
            }

            return (name, width, height);
        }

        if (isImage && manifest?.Input is { } input)
        {
            return (name, input.Width, input.Height);
        }

        if (isImage && exportMetadata is { ImageWidth: { } metadataWidth, ImageHeight: { } metadataHeight })
        {
            return (name, metadataWidth, metadataHeight);
        }

        throw new ModelLoadException(path,
            $"'{path}' has input {Describe(name, metadata)}; a detector needs a float32 image input [1,3,H,W] with a fixed H and W" +
            (isImage
                ? $", or, for an open H and W, the size in a manifest's input or in the ONNX metadata's imgsz (imgsz is {(exportMetadata.RawImageSize is { } raw ? $"'{raw}'" : "absent")})."
                : "."));
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

/// <summary>
/// One frame's input and output buffers for <see cref="Detector"/>'s staged calls, bound to the session once. The
/// timings of the last frame that went through it are in <see cref="Timings"/>.
/// </summary>
public sealed class DetectorSlot : IDisposable
{
    private readonly OrtValue _inputValue;
    private readonly OrtValue[] _outputValues;
    private bool _disposed;

    internal DetectorSlot(Detector owner, InferenceSession session, string inputName, string[] outputNames, int inputLength, long[] inputShape, long[][] outputShapes)
    {
        Owner = owner;
        Input = new float[inputLength];
        _inputValue = OrtValue.CreateTensorValueFromMemory(Input, inputShape);
        Outputs = [.. outputShapes.Select(shape => new float[shape.Aggregate(1L, (length, dimension) => length * dimension)])];
        _outputValues = [.. outputShapes.Select((shape, i) => OrtValue.CreateTensorValueFromMemory(Outputs[i], shape))];
        Binding = session.CreateIoBinding();
        Binding.BindInput(inputName, _inputValue);
        for (var i = 0; i < outputNames.Length; i++)
        {
            Binding.BindOutput(outputNames[i], _outputValues[i]);
        }
    }

    internal Detector Owner { get; }

    internal float[] Input { get; }

    internal float[][] Outputs { get; }

    internal OrtIoBinding Binding { get; }

    internal ImageTransform Transform { get; set; }

    /// <summary>Where the last frame through this slot spent its time in each stage.</summary>
    public FrameTimings Timings { get; internal set; }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Binding.Dispose();
        _inputValue.Dispose();
        foreach (var value in _outputValues)
        {
            value.Dispose();
        }
    }
}
