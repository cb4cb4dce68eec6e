using Microsoft.ML.OnnxRuntime;

namespace YoloFleet.Inference;

/// <summary>
/// Settings for <see cref="Detector.Open"/>. The detector copies them when it opens, so changing an instance
/// afterwards does not affect a detector that is already open.
/// </summary>
public sealed class DetectorOptions
{
    private static readonly HashSet<string> OwnedSessionConfigKeys =
    [
        SessionConfigKeys.AllowIntraOpSpinning, SessionConfigKeys.AllowInterOpSpinning, SessionConfigKeys.DisablePrepacking,
        "session.intra_op_num_threads", "session.inter_op_num_threads", "session.graph_optimization_level",
        "session.execution_mode", "session.enable_mem_pattern", "session.enable_cpu_mem_arena",
    ];

    // The four thresholds remember whether the caller set them: a set value beats the model manifest's, an unset one
    // yields to it (see DetectionThresholds). Reading an unset one gives the built-in default.
    private float? _confidenceThreshold;
    private float? _nmsIouThreshold;
    private int? _maxDetections;
    private bool? _classAgnosticNms;

    /// <summary>Candidates scoring below this are dropped before any box maths. Set, it overrides the manifest's.</summary>
    public float ConfidenceThreshold
    {
        get => _confidenceThreshold ?? DetectionThresholds.Default.Confidence;
        set => _confidenceThreshold = value;
    }

    /// <summary>A box is suppressed when its IoU with a higher-scoring kept box is above this. Set, it overrides the manifest's.</summary>
    public float NmsIouThreshold
    {
        get => _nmsIouThreshold ?? DetectionThresholds.Default.NmsIou;
        set => _nmsIouThreshold = value;
    }

    /// <summary>At most this many detections per frame. Set, it overrides the manifest's.</summary>
    public int MaxDetections
    {
        get => _maxDetections ?? DetectionThresholds.Default.MaxDetections;
        set => _maxDetections = value;
    }

    /// <summary>When true, boxes of different classes suppress each other too. Set, it overrides the manifest's.</summary>
    public bool ClassAgnosticNms
    {
        get => _classAgnosticNms ?? DetectionThresholds.Default.ClassAgnostic;
        set => _classAgnosticNms = value;
    }

    /// <summary>ONNX Runtime intra-op threads; 0 lets ONNX Runtime use one per physical core.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's worker threads busy-wait between operators. Spinning shaves a little latency but burns
    /// CPU that a Pi shares with the camera and MQTT, so it is off by default (session.intra_op.allow_spinning = "0").
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// ONNX Runtime inter-op threads, used only with <see cref="OperatorExecution.Parallel"/>; 0 lets ONNX Runtime
    /// choose. One image per run and a chain of convolutions leave little to run side by side.
    /// </summary>
    public int InterOpThreads { get; set; }

    /// <summary>How far ONNX Runtime rewrites the graph when it loads the model (fusions, layout changes).</summary>
    public GraphOptimization GraphOptimization { get; set; } = GraphOptimization.All;

    /// <summary>Whether independent operators may run at the same time on the inter-op pool.</summary>
    public OperatorExecution OperatorExecution { get; set; } = OperatorExecution.Sequential;

    /// <summary>
    /// Whether ONNX Runtime plans the intermediate buffers once from the first run's allocation pattern and reuses the
    /// plan (fixed input shape, so it always fits). Off saves a little memory at some speed.
    /// </summary>
    public bool MemoryPattern { get; set; } = true;

    /// <summary>
    /// Whether CPU tensors come from ONNX Runtime's growing arena rather than straight from malloc. The arena keeps
    /// what it once reserved, which a small device may rather return.
    /// </summary>
    public bool CpuMemoryArena { get; set; } = true;

    /// <summary>
    /// Whether constant weights are repacked at load into the layout the kernels read fastest (session.disable_prepacking
    /// = "1" when off). Prepacking holds a second copy of those weights.
    /// </summary>
    public bool Prepacking { get; set; } = true;

    /// <summary>
    /// Further ONNX Runtime session config entries (onnxruntime_session_options_config_keys.h), applied after the
    /// settings above, e.g. "session.use_env_allocators" or, for an ORT-format model, "session.use_memory_mapped_ort_model".
    /// Keys ONNX Runtime does not know are ignored by it, so check the spelling against that header.
    /// </summary>
    public IDictionary<string, string> SessionConfig { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The least severe ONNX Runtime message the session logs (to stderr). Warning shows, for example, old exports that
    /// list their weights as graph inputs, one line per weight; tools that print results may prefer Error.
    /// </summary>
    public OnnxRuntimeLogLevel LogLevel { get; set; } = OnnxRuntimeLogLevel.Warning;

    /// <summary>Each threshold from these options if the caller set it, else from <paramref name="fromManifest"/>, else the default.</summary>
    internal DetectionThresholds ResolveThresholds(DetectionThresholds? fromManifest)
    {
        var fallback = fromManifest ?? DetectionThresholds.Default;
        return new DetectionThresholds(
            _confidenceThreshold ?? fallback.Confidence,
            _nmsIouThreshold ?? fallback.NmsIou,
            _maxDetections ?? fallback.MaxDetections,
            _classAgnosticNms ?? fallback.ClassAgnostic);
    }

    internal void Validate()
    {
        if (!(ConfidenceThreshold is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(ConfidenceThreshold), ConfidenceThreshold, "ConfidenceThreshold must be between 0 and 1.");
        }

        if (!(NmsIouThreshold is >= 0f and <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(NmsIouThreshold), NmsIouThreshold, "NmsIouThreshold must be between 0 and 1.");
        }

        if (MaxDetections <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDetections), MaxDetections, "MaxDetections must be at least 1.");
        }

        if (IntraOpThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be 0 (ONNX Runtime's default) or more.");
        }

        if (InterOpThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(InterOpThreads), InterOpThreads, "InterOpThreads must be 0 (ONNX Runtime's default) or more.");
        }

        if (!Enum.IsDefined(GraphOptimization))
        {
            throw new ArgumentOutOfRangeException(nameof(GraphOptimization), GraphOptimization,
                $"GraphOptimization must be one of {string.Join(", ", Enum.GetNames<GraphOptimization>())}.");
        }

        if (!Enum.IsDefined(LogLevel))
        {
            throw new ArgumentOutOfRangeException(nameof(LogLevel), LogLevel,
                $"LogLevel must be one of {string.Join(", ", Enum.GetNames<OnnxRuntimeLogLevel>())}.");
        }

        if (!Enum.IsDefined(OperatorExecution))
        {
            throw new ArgumentOutOfRangeException(nameof(OperatorExecution), OperatorExecution,
                $"OperatorExecution must be one of {string.Join(", ", Enum.GetNames<OperatorExecution>())}.");
        }

        foreach (var (key, value) in SessionConfig)
        {
            // The options above own these keys; a second route to the same setting would make the effective value unclear.
            if (string.IsNullOrWhiteSpace(key) || OwnedSessionConfigKeys.Contains(key))
            {
                throw new ArgumentOutOfRangeException(nameof(SessionConfig), key,
                    $"SessionConfig key '{key}' is empty or is set by a DetectorOptions property ({string.Join(", ", OwnedSessionConfigKeys)}); use the property.");
            }

            if (value is null)
            {
                throw new ArgumentOutOfRangeException(nameof(SessionConfig), key, $"SessionConfig['{key}'] has no value.");
            }
        }
    }

    /// <summary>The ONNX Runtime session settings these options describe. The caller owns the result.</summary>
    public SessionOptions ToSessionOptions()
    {
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimization switch
            {
                GraphOptimization.None => GraphOptimizationLevel.ORT_DISABLE_ALL,
                GraphOptimization.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                GraphOptimization.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                GraphOptimization.Layout => GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            ExecutionMode = OperatorExecution == OperatorExecution.Parallel ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = IntraOpThreads,
            InterOpNumThreads = InterOpThreads,
            EnableMemoryPattern = MemoryPattern,
            EnableCpuMemArena = CpuMemoryArena,
            LogSeverityLevel = (OrtLoggingLevel)LogLevel,
        };
        try
        {
            var spinning = AllowSpinning ? "1" : "0";
            sessionOptions.AddSessionConfigEntry(SessionConfigKeys.AllowIntraOpSpinning, spinning);
            sessionOptions.AddSessionConfigEntry(SessionConfigKeys.AllowInterOpSpinning, spinning);
            sessionOptions.AddSessionConfigEntry(SessionConfigKeys.DisablePrepacking, Prepacking ? "0" : "1");
            foreach (var (key, value) in SessionConfig)
            {
                sessionOptions.AddSessionConfigEntry(key, value);
            }

            return sessionOptions;
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }
}

/// <summary>ONNX Runtime's graph optimisation levels (GraphOptimizationLevel), named for configuration files.</summary>
public enum GraphOptimization
{
    None,
    Basic,
    Extended,
    Layout,
    All,
}

/// <summary>ONNX Runtime's log severities (OrtLoggingLevel), same order and values.</summary>
public enum OnnxRuntimeLogLevel
{
    Verbose,
    Info,
    Warning,
    Error,
    Fatal,
}

/// <summary>ONNX Runtime's execution modes (ExecutionMode), named for configuration files.</summary>
public enum OperatorExecution
{
    Sequential,
    Parallel,
}

/// <summary>Session config keys from ONNX Runtime's onnxruntime_session_options_config_keys.h (1.31) that the options set.</summary>
internal static class SessionConfigKeys
{
    public const string AllowIntraOpSpinning = "session.intra_op.allow_spinning";
    public const string AllowInterOpSpinning = "session.inter_op.allow_spinning";
    public const string DisablePrepacking = "session.disable_prepacking";
}
