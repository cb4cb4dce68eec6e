using System.ComponentModel.DataAnnotations;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.HardFrames;

/// <summary>Why a frame was picked for upload to the cloud's FP32 verifier.</summary>
public enum HardFrameReason
{
    None,

    /// <summary>The best score lies in the uncertainty band: the model is unsure about its main object.</summary>
    Uncertain,

    /// <summary>Many low-confidence boxes: a cluttered scene the small model may be getting wrong.</summary>
    Crowded,

    /// <summary>Picked at random, so the verifier also sees ordinary frames (an unbiased accuracy estimate).</summary>
    Sampled,
}

/// <summary>Configuration section "Agent:HardFrames".</summary>
public sealed class HardFrameOptions : IValidatableObject
{
    public bool Enabled { get; set; } = true;

    /// <summary>Lower edge of the uncertainty band for the frame's top score.</summary>
    [Range(0.0, 1.0)]
    public float UncertainLow { get; set; } = 0.3f;

    /// <summary>Upper edge of the uncertainty band for the frame's top score.</summary>
    [Range(0.0, 1.0)]
    public float UncertainHigh { get; set; } = 0.6f;

    /// <summary>A box scoring below this counts as low-confidence for the crowded rule.</summary>
    [Range(0.0, 1.0)]
    public float LowConfidenceScore { get; set; } = 0.45f;

    /// <summary>This many low-confidence boxes make a frame crowded.</summary>
    [Range(1, 10_000)]
    public int CrowdedMinBoxes { get; set; } = 8;

    /// <summary>Share of the remaining frames picked at random.</summary>
    [Range(0.0, 1.0)]
    public double SampleRate { get; set; } = 0.01;

    /// <summary>At most this many hard frames in any sliding hour; the rest are skipped and counted.</summary>
    [Range(0, 1_000_000)]
    public int BudgetPerHour { get; set; } = 120;

    [Range(1, 100)]
    public int JpegQuality { get; set; } = 85;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (UncertainLow > UncertainHigh)
        {
            yield return new ValidationResult(
                $"Agent:HardFrames:UncertainLow ({UncertainLow}) must not exceed UncertainHigh ({UncertainHigh}).",
                [nameof(UncertainLow), nameof(UncertainHigh)]);
        }
    }
}

/// <summary>
/// Decides which frames go to the cloud as hard frames: uncertain first, then crowded, then a random sample, all within
/// an hourly budget (a sliding window, so a burst cannot spend the next hour's uploads early).
/// </summary>
public sealed class HardFramePolicy(HardFrameOptions options, TimeProvider time, Random random)
{
    private readonly Queue<DateTimeOffset> _recent = new();

    public long Selected { get; private set; }

    /// <summary>Frames that qualified but were skipped because the hourly budget was spent.</summary>
    public long SkippedOverBudget { get; private set; }

    public HardFrameReason Evaluate(IReadOnlyList<Detection> detections)
    {
        if (!options.Enabled)
        {
            return HardFrameReason.None;
        }

        var reason = Classify(detections);
        if (reason == HardFrameReason.None)
        {
            return reason;
        }

        return TryTakeBudget() ? reason : HardFrameReason.None;
    }

    /// <summary>
    /// Takes one hard frame from the hourly budget (false, counted in <see cref="SkippedOverBudget"/>, when it is spent or
    /// hard frames are off). <see cref="Evaluate"/> uses it; so does shadow mode for its disagreement frames.
    /// </summary>
    public bool TryTakeBudget()
    {
        if (!options.Enabled)
        {
            return false;
        }

        var now = time.GetUtcNow();
        while (_recent.Count > 0 && now - _recent.Peek() >= TimeSpan.FromHours(1))
        {
            _recent.Dequeue();
        }

        if (_recent.Count >= options.BudgetPerHour)
        {
            SkippedOverBudget++;
            return false;
        }

        _recent.Enqueue(now);
        Selected++;
        return true;
    }

    private HardFrameReason Classify(IReadOnlyList<Detection> detections)
    {
        var top = 0f;
        var lowConfidence = 0;
        for (var i = 0; i < detections.Count; i++)
        {
            var score = detections[i].Score;
            top = Math.Max(top, score);
            if (score < options.LowConfidenceScore)
            {
                lowConfidence++;
            }
        }

        if (detections.Count > 0 && top >= options.UncertainLow && top <= options.UncertainHigh)
        {
            return HardFrameReason.Uncertain;
        }

        if (lowConfidence >= options.CrowdedMinBoxes)
        {
            return HardFrameReason.Crowded;
        }

        return random.NextDouble() < options.SampleRate ? HardFrameReason.Sampled : HardFrameReason.None;
    }
}
