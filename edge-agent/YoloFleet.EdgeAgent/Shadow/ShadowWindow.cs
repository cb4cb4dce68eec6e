using OpenCvSharp;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference.Evaluation;
using Detection = YoloFleet.Inference.Detection;

namespace YoloFleet.EdgeAgent.Shadow;

/// <summary>What <see cref="ShadowWindow.Sample"/> decided for one frame of the active model.</summary>
public enum ShadowDecision
{
    /// <summary>Not picked by the sampling.</summary>
    NotSampled,

    /// <summary>Picked, but running the candidate would take it over <see cref="ShadowOptions.MaxCpuShare"/>.</summary>
    SkippedForBudget,

    /// <summary>Run the candidate on it.</summary>
    Run,
}

/// <summary>A frame the two models disagreed on, kept (a copy of the image) to go up as a hard frame.</summary>
public sealed class DisagreementFrame(int disagreement, Mat image, DetectionsPublished active, Detection[] candidate) : IDisposable
{
    /// <summary>Boxes of either model that the other did not match (only_active + only_candidate on this frame).</summary>
    public int Disagreement { get; } = disagreement;

    public Mat Image { get; } = image;

    /// <summary>The active model's message for the frame (its sequence, boxes and hash).</summary>
    public DetectionsPublished Active { get; } = active;

    public IReadOnlyList<Detection> Candidate { get; } = candidate;

    public void Dispose() => Image.Dispose();
}

/// <summary>One closed window's figures (a ShadowReported without its envelope and hashes) and its top frames.</summary>
public sealed record ShadowWindowClosed(ShadowReported Report, IReadOnlyList<DisagreementFrame> TopFrames);

/// <summary>
/// One window of shadow mode: which frames the candidate runs on (sampling, then the CPU budget), the box-level
/// divergence of the two models on those frames (<see cref="BoxMatcher"/>, the verifier's rule, with the active model
/// standing in as the reference), both latencies, and the frames they disagree most on. Used by one thread (the
/// pipeline's publish stage).
/// </summary>
public sealed class ShadowWindow(ShadowOptions options, Random random)
{
    // Latencies kept per window; past this, the percentiles describe the window's first frames.
    private const int MaxLatencySamples = 20_000;

    private readonly List<double> _activeMs = [];
    private readonly List<double> _candidateMs = [];
    private readonly List<DisagreementFrame> _top = [];

    // The CPU budget's totals: detector time of both models, carried across windows and halved at each close, so the
    // share is over the recent past and a new window does not start with an empty (and so over-strict) budget.
    private double _budgetActiveMs;
    private double _budgetCandidateMs;
    private double _lastCandidateMs;

    // The window's own totals.
    private double _windowActiveMs;
    private double _windowCandidateMs;
    private uint _frames;
    private uint _shadowed;
    private uint _skipped;
    private uint _matched;
    private uint _onlyActive;
    private uint _onlyCandidate;
    private uint _throttled;

    public DateTimeOffset StartedAt { get; private set; }

    public uint Frames => _frames;

    public uint ShadowedFrames => _shadowed;

    /// <summary>Starts the window at <paramref name="now"/>, dropping anything left from a previous one.</summary>
    public void Start(DateTimeOffset now)
    {
        StartedAt = now;
        _windowActiveMs = _windowCandidateMs = 0;
        _frames = _shadowed = _skipped = _matched = _onlyActive = _onlyCandidate = _throttled = 0;
        _activeMs.Clear();
        _candidateMs.Clear();
        foreach (var frame in _top)
        {
            frame.Dispose();
        }

        _top.Clear();
    }

    /// <summary>Counts one frame of the active model (its detector time) and decides whether the candidate runs on it.</summary>
    public ShadowDecision Sample(double activeMs)
    {
        _frames++;
        _windowActiveMs += activeMs;
        _budgetActiveMs += activeMs;
        if (random.NextDouble() >= options.SampleRate)
        {
            return ShadowDecision.NotSampled;
        }

        // Would the candidate's share, with this frame's run (estimated by its last one), go over the budget?
        var projected = _budgetCandidateMs + _lastCandidateMs;
        if (projected > options.MaxCpuShare * (_budgetActiveMs + projected))
        {
            _skipped++;
            return ShadowDecision.SkippedForBudget;
        }

        return ShadowDecision.Run;
    }

    /// <summary>
    /// Records a frame both models ran on and returns how much they disagreed on it (boxes either one had that the other
    /// did not match).
    /// </summary>
    public int Record(IReadOnlyList<Detection> active, IReadOnlyList<Detection> candidate, double activeMs, double candidateMs, bool throttled)
    {
        ArgumentNullException.ThrowIfNull(active);
        ArgumentNullException.ThrowIfNull(candidate);
        _shadowed++;
        _lastCandidateMs = candidateMs;
        _budgetCandidateMs += candidateMs;
        _windowCandidateMs += candidateMs;
        if (throttled)
        {
            _throttled++;
        }
        else if (_activeMs.Count < MaxLatencySamples)
        {
            _activeMs.Add(activeMs);
            _candidateMs.Add(candidateMs);
        }

        var match = BoxMatcher.Match(candidate, active);
        _matched += (uint)match.Matched;
        var onlyActive = active.Count - match.Matched;
        var onlyCandidate = candidate.Count - match.Matched;
        _onlyActive += (uint)onlyActive;
        _onlyCandidate += (uint)onlyCandidate;
        return onlyActive + onlyCandidate;
    }

    /// <summary>Whether a frame with this disagreement would be among the window's top frames (ties go to the earlier one).</summary>
    public bool IsTop(int disagreement) =>
        disagreement > 0 && options.HardFramesPerWindow > 0
        && (_top.Count < options.HardFramesPerWindow || disagreement > _top[^1].Disagreement);

    /// <summary>Keeps <paramref name="frame"/> among the top frames (call after <see cref="IsTop"/>); the one it pushes out is disposed.</summary>
    public void Keep(DisagreementFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var at = _top.FindIndex(kept => kept.Disagreement < frame.Disagreement);
        _top.Insert(at < 0 ? _top.Count : at, frame);
        if (_top.Count > options.HardFramesPerWindow)
        {
            _top[^1].Dispose();
            _top.RemoveAt(_top.Count - 1);
        }
    }

    /// <summary>Closes the window at <paramref name="now"/>: its figures and top frames (now the caller's to dispose); then starts the next.</summary>
    public ShadowWindowClosed Close(DateTimeOffset now)
    {
        var report = new ShadowReported
        {
            WindowStartUnixMs = StartedAt.ToUnixTimeMilliseconds(),
            WindowEndUnixMs = now.ToUnixTimeMilliseconds(),
            Frames = _frames,
            ShadowedFrames = _shadowed,
            SkippedForBudget = _skipped,
            Matched = _matched,
            OnlyActive = _onlyActive,
            OnlyCandidate = _onlyCandidate,
            ActiveP50Ms = Percentile(_activeMs, 0.50),
            ActiveP95Ms = Percentile(_activeMs, 0.95),
            CandidateP50Ms = Percentile(_candidateMs, 0.50),
            CandidateP95Ms = Percentile(_candidateMs, 0.95),
            ThrottledFrames = _throttled,
            ShadowCpuShare = _windowCandidateMs + _windowActiveMs > 0 ? (float)(_windowCandidateMs / (_windowCandidateMs + _windowActiveMs)) : 0f,
        };
        var top = _top.ToArray();
        _top.Clear();
        _budgetActiveMs /= 2;
        _budgetCandidateMs /= 2;
        Start(now);
        return new ShadowWindowClosed(report, top);
    }

    private static float Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return 0f;
        }

        var sorted = values.ToArray();
        Array.Sort(sorted);
        return (float)StageTimings.Percentile(sorted, p);
    }
}
