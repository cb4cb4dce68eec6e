using System.Globalization;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cloud.Rollout.Planning;

/// <summary>A rollout's stages and gates: the defaults, their validation, and which devices each stage takes.</summary>
public static class RolloutPlan
{
    /// <summary>5 % → 25 % → 100 %, with 1 h, 4 h and 24 h of soak, 100 verified hard frames and 10 latency reports per group.</summary>
    public static RolloutStageSpec[] DefaultStages =>
    [
        new(5, TimeSpan.FromHours(1), 100, 10),
        new(25, TimeSpan.FromHours(4), 100, 10),
        new(100, TimeSpan.FromHours(24), 100, 10),
    ];

    /// <summary>Most stages a rollout may define.</summary>
    public const int MaxStages = 10;

    /// <summary>Why the stages or gates cannot be used, or null when they can.</summary>
    public static string? Validate(IReadOnlyList<RolloutStageSpec> stages, RolloutGates gates)
    {
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(gates);
        if (stages.Count is 0 or > MaxStages)
        {
            return $"a rollout has 1 to {MaxStages} stages; got {stages.Count}.";
        }

        for (var i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            var where = string.Create(CultureInfo.InvariantCulture, $"stage {i + 1}");
            if (stage is null)
            {
                return where + " is missing.";
            }

            if (!(stage.Percent is > 0 and <= 100))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{where}: percent {stage.Percent} is not in (0, 100].");
            }

            if (i > 0 && stage.Shadow && !stages[i - 1].Shadow)
            {
                return where + ": a shadow stage must come before every stage that switches devices to the candidate.";
            }

            // Shadow stages grow among themselves, the others among themselves: shadow 25 % → 5 % → 100 % is a plan.
            if (i > 0 && stage.Shadow == stages[i - 1].Shadow && stage.Percent <= stages[i - 1].Percent)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{where}: percent {stage.Percent} does not grow on the previous stage's {stages[i - 1].Percent}.");
            }

            if (stage.MinShadowWindows is < 0 or > 1_000_000)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{where}: minShadowWindows {stage.MinShadowWindows} is not 0..1,000,000.");
            }

            if (stage.MinSoak < TimeSpan.Zero || stage.MinSoak > TimeSpan.FromDays(30))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{where}: minSoak {stage.MinSoak} is not between 0 and 30 days.");
            }

            if (stage.MinAgreementSamples is < 0 or 1 or > 1_000_000)
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"{where}: minAgreementSamples {stage.MinAgreementSamples} is not 0 (no agreement gate) or 2..1,000,000.");
            }

            if (stage.MinLatencySamples is < 0 or > 1_000_000)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{where}: minLatencySamples {stage.MinLatencySamples} is not 0..1,000,000.");
            }
        }

        if (stages[^1].Shadow)
        {
            return "the last stage must switch the devices to the candidate, not shadow it.";
        }

        if (stages[^1].Percent != 100)
        {
            return string.Create(CultureInfo.InvariantCulture, $"the last stage must take 100 % of the target (it takes {stages[^1].Percent}).");
        }

        try
        {
            Design(gates, stages[0]).Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            return "gates: " + ex.Message;
        }

        if (!(gates.MaxLatencyRatio is >= 1 and <= 100))
        {
            return string.Create(CultureInfo.InvariantCulture, $"gates: maxLatencyRatio {gates.MaxLatencyRatio} is not in [1, 100].");
        }

        if (!(gates.MaxShadowDivergence is >= 0 and <= 1))
        {
            return string.Create(CultureInfo.InvariantCulture, $"gates: maxShadowDivergence {gates.MaxShadowDivergence} is not in [0, 1].");
        }

        return gates.MaxRefusalShare is >= 0 and <= 1
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"gates: maxRefusalShare {gates.MaxRefusalShare} is not in [0, 1].");
    }

    /// <summary>The sequential test for a stage: the rollout's regression and error rates, the stage's minimum samples.</summary>
    public static SequentialTestDesign Design(RolloutGates gates, RolloutStageSpec stage) =>
        new(gates.Regression, gates.FalseRollback, gates.MissedRegression, MinSamplesPerGroup: Math.Max(2, stage.MinAgreementSamples),
            MaxSamplesPerGroup: Math.Max(20_000, Math.Max(2, stage.MinAgreementSamples)));

    /// <summary>
    /// The devices of the target a stage of <paramref name="percent"/> % takes (<see cref="CohortSelector"/>), in the
    /// target's order; never none: when no device's bucket falls under the share, the device with the lowest bucket. That
    /// device is also in every larger stage, so a device once in stays in.
    /// </summary>
    /// <summary>
    /// Every device of the target that got the candidate by stage <paramref name="index"/>, in shadow or switched to it:
    /// the devices a roll-back sends back. Cohorts only grow within each kind, so that is the last shadow stage's devices
    /// and the stage's own.
    /// </summary>
    public static IReadOnlyList<string> DevicesWithCandidate(string rolloutKey, IReadOnlyList<string> target, IReadOnlyList<RolloutStageSpec> stages, int index)
    {
        ArgumentNullException.ThrowIfNull(stages);
        var devices = new HashSet<string>(StringComparer.Ordinal);
        var lastShadow = -1;
        for (var i = 0; i <= index; i++)
        {
            lastShadow = stages[i].Shadow ? i : lastShadow;
        }

        if (lastShadow >= 0)
        {
            devices.UnionWith(StageDevices(rolloutKey, target, stages[lastShadow].Percent));
        }

        devices.UnionWith(StageDevices(rolloutKey, target, stages[index].Percent));
        return [.. target.Where(devices.Contains)];
    }

    public static IReadOnlyList<string> StageDevices(string rolloutKey, IReadOnlyList<string> target, double percent)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Count == 0)
        {
            return [];
        }

        var taken = target.Where(device => CohortSelector.Includes(rolloutKey, device, percent)).ToList();
        return taken.Count > 0
            ? taken
            : [target.OrderBy(device => CohortSelector.Bucket(rolloutKey, device)).ThenBy(device => device, StringComparer.Ordinal).First()];
    }
}

/// <summary>Which operator commands each state allows (docs/rollout.md has the diagram).</summary>
public static class RolloutTransitions
{
    public const string Promote = "promote";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Abort = "abort";

    /// <summary>Why <paramref name="command"/> is refused in <paramref name="state"/>, or null when it is allowed.</summary>
    public static string? Refusal(string state, string command) => (command, state) switch
    {
        (Promote or Abort, RolloutStates.Running or RolloutStates.Paused) => null,
        (Pause, RolloutStates.Running) => null,
        (Resume, RolloutStates.Paused) => null,
        (Promote or Pause or Resume or Abort, _) => $"the rollout is {state}; '{command}' needs it {Needs(command)}.",
        _ => $"'{command}' is not a rollout command.",
    };

    private static string Needs(string command) => command switch
    {
        Pause => "running",
        Resume => "paused",
        _ => "running or paused",
    };
}
