namespace YoloFleet.Inference.Benchmarking;

/// <summary>Mean time per frame in each stage, in milliseconds. <see cref="DecodeMs"/> is 0 unless decoding was measured.</summary>
public readonly record struct StageTimings(double DecodeMs, double PreprocessMs, double InferenceMs, double PostprocessMs)
{
    public double TotalMs => DecodeMs + PreprocessMs + InferenceMs + PostprocessMs;
}

/// <summary>One model's figures from a <see cref="DetectorBenchmark"/> run.</summary>
/// <param name="Latency">Whole frame: <see cref="Detector.Detect(OpenCvSharp.Mat, List{Detection})"/> (plus decode when measured), timed around the call.</param>
/// <param name="RunOnlyLatency">The bare ONNX Runtime run on the same session and already filled input buffer.</param>
/// <param name="Split">Means of the detector's own stage timings (and of decode).</param>
/// <param name="AllocatedBytes">Managed bytes allocated on the benchmark thread over all measured pipeline frames.</param>
/// <param name="RunOnlyAllocatedBytes">The same over all measured runOnly frames.</param>
/// <param name="PlainRunLatency">The bare run through plain Run(names, values) instead of the IO binding, when compared.</param>
public sealed record ModelBenchmark(
    ModelInfo Model,
    long ModelSizeBytes,
    int Frames,
    LatencySummary Latency,
    LatencySummary RunOnlyLatency,
    StageTimings Split,
    long AllocatedBytes,
    long RunOnlyAllocatedBytes,
    long Detections,
    LatencySummary? PlainRunLatency = null,
    long PlainRunAllocatedBytes = 0)
{
    /// <summary>Frames per second of the whole pipeline, one frame after another: 1000 / mean frame latency.</summary>
    public double Fps => Latency.Mean > 0 ? 1000.0 / Latency.Mean : 0;

    /// <summary>Frames per second of the bare model run: 1000 / mean runOnly latency.</summary>
    public double RunOnlyFps => RunOnlyLatency.Mean > 0 ? 1000.0 / RunOnlyLatency.Mean : 0;

    /// <summary><see cref="Fps"/> / <see cref="RunOnlyFps"/>: the share of the model's own speed that the pipeline keeps.</summary>
    public double FpsRatio => RunOnlyFps > 0 ? Fps / RunOnlyFps : 0;

    /// <summary>(preprocess + postprocess) / (preprocess + inference + postprocess), from the mean stage timings.</summary>
    public double PrePostShare
    {
        get
        {
            var detect = Split.PreprocessMs + Split.InferenceMs + Split.PostprocessMs;
            return detect > 0 ? (Split.PreprocessMs + Split.PostprocessMs) / detect : 0;
        }
    }

    public double AllocBytesPerFrame => Frames > 0 ? (double)AllocatedBytes / Frames : 0;

    public double RunOnlyAllocBytesPerFrame => Frames > 0 ? (double)RunOnlyAllocatedBytes / Frames : 0;

    public double DetectionsPerFrame => Frames > 0 ? (double)Detections / Frames : 0;
}
