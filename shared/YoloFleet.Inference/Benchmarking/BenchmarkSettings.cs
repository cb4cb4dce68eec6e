namespace YoloFleet.Inference.Benchmarking;

/// <summary>How <see cref="DetectorBenchmark"/> measures.</summary>
public sealed class BenchmarkSettings
{
    /// <summary>Measured frames per model, for the whole pipeline and again for the bare model run.</summary>
    public int Frames { get; set; } = 200;

    /// <summary>Unmeasured frames per model first, so that JIT, ONNX Runtime's arena and the caches settle.</summary>
    public int Warmup { get; set; } = 20;

    /// <summary>
    /// Frames in a row before switching to the next measurement (pipeline, runOnly, the other model). Short blocks
    /// let every measurement see the same machine state, which matters on a shared, noisy machine.
    /// </summary>
    public int BlockSize { get; set; } = 10;

    /// <summary>Decode each frame from its encoded bytes inside the measured loop (reported as splitMs.decode).</summary>
    public bool IncludeDecode { get; set; }

    /// <summary>
    /// Also time the model through plain session.Run(names, values) on the same buffers (the plainRun section): the
    /// detector runs through an IO binding, and this shows what that changes.
    /// </summary>
    public bool ComparePlainRun { get; set; }

    /// <summary>The intra-op threads the detectors were opened with; reported, not applied.</summary>
    public int Threads { get; set; }

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (Frames < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Frames), Frames, "Frames must be at least 1.");
        }

        if (Warmup < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Warmup), Warmup, "Warmup must be 0 or more.");
        }

        if (BlockSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "BlockSize must be at least 1.");
        }

        if (Threads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (ONNX Runtime's default) or more.");
        }
    }
}
