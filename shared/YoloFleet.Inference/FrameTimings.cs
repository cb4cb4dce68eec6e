namespace YoloFleet.Inference;

/// <summary>Where one <see cref="Detector.Detect(OpenCvSharp.Mat, List{Detection})"/> call spent its time, in milliseconds.</summary>
public readonly record struct FrameTimings(double PreprocessMs, double InferenceMs, double PostprocessMs)
{
    public double TotalMs => PreprocessMs + InferenceMs + PostprocessMs;
}
