using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests.Benchmarking;

/// <summary>The ONNX Runtime session settings in <see cref="DetectorOptions"/>: validated, applied, and result-neutral.</summary>
public sealed class SessionOptionsTests
{
    public static TheoryData<string, Action<DetectorOptions>> BadOptions => new()
    {
        { "InterOpThreads", options => options.InterOpThreads = -1 },
        { "GraphOptimization", options => options.GraphOptimization = (GraphOptimization)42 },
        { "OperatorExecution", options => options.OperatorExecution = (OperatorExecution)7 },
        { "LogLevel", options => options.LogLevel = (OnnxRuntimeLogLevel)(-1) },
        { "SessionConfig", options => options.SessionConfig["session.disable_prepacking"] = "1" },
        { "SessionConfig", options => options.SessionConfig["session.intra_op.allow_spinning"] = "1" },
        { "SessionConfig", options => options.SessionConfig[" "] = "1" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Rejects_bad_session_options(string parameter, Action<DetectorOptions> spoil)
    {
        var options = new DetectorOptions();
        spoil(options);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Detector.Open(SharedData.YoloxNano416, options));
        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public void Lean_session_settings_give_the_same_detections()
    {
        using var kitchen = ImageFile.Read(CocoLabels.ImagePath("000000000009"));
        var lean = new DetectorOptions
        {
            IntraOpThreads = 1,
            InterOpThreads = 1,
            GraphOptimization = GraphOptimization.Basic,
            OperatorExecution = OperatorExecution.Parallel,
            MemoryPattern = false,
            CpuMemoryArena = false,
            Prepacking = false,
            LogLevel = OnnxRuntimeLogLevel.Error,
        };
        lean.SessionConfig["session.use_env_allocators"] = "0";
        using var leanDetector = Detector.Open(SharedData.YoloxNano416, lean);
        using var defaultDetector = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { IntraOpThreads = 1 });

        var a = leanDetector.Detect(kitchen);
        var b = defaultDetector.Detect(kitchen);

        Assert.NotEmpty(a);
        DetectionAssert.SameWithinRuntimeNoise(a, b);
    }

    [Fact]
    public void Defaults_keep_the_fast_settings()
    {
        var options = new DetectorOptions();

        Assert.Equal(GraphOptimization.All, options.GraphOptimization);
        Assert.Equal(OperatorExecution.Sequential, options.OperatorExecution);
        Assert.True(options.MemoryPattern);
        Assert.True(options.CpuMemoryArena);
        Assert.True(options.Prepacking);
        Assert.False(options.AllowSpinning);
        Assert.Empty(options.SessionConfig);
        Assert.Equal(OnnxRuntimeLogLevel.Warning, options.LogLevel);
    }
}
