using System.ComponentModel.DataAnnotations;

namespace YoloFleet.EdgeAgent.Shadow;

/// <summary>
/// Configuration section "Agent:Shadow": how a candidate model assigned with slot "shadow" runs beside the active model
/// (docs/edge-agent.md, "Shadow mode").
/// </summary>
public sealed class ShadowOptions
{
    /// <summary>Share of the active model's frames the candidate is also run on (picked at random).</summary>
    [Range(0.0, 1.0)]
    public double SampleRate { get; set; } = 0.2;

    /// <summary>
    /// The most the candidate may take of the detector time (active plus candidate), so the live frame rate drops by at
    /// most this share. A sampled frame that would go over it is skipped and counted (skipped_for_budget).
    /// </summary>
    [Range(0.0, 1.0)]
    public double MaxCpuShare { get; set; } = 0.25;

    /// <summary>Length of one reported window (ShadowReported), in seconds.</summary>
    [Range(1, 86_400)]
    public int WindowSeconds { get; set; } = 60;

    /// <summary>The frames the two models disagree most on in a window sent as hard frames (within the hard-frame budget).</summary>
    [Range(0, 100)]
    public int HardFramesPerWindow { get; set; } = 2;
}
