using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud.Rollout;

/// <summary>Configuration section "Cloud:Rollout": how often rollouts evaluate their gates.</summary>
public sealed class RolloutOptions
{
    public const string Section = "Cloud:Rollout";

    /// <summary>The grain's timer: how often a running rollout evaluates its gates.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the host pokes every running rollout, which re-activates its grain after a silo restart.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan KeeperInterval { get; set; } = TimeSpan.FromMinutes(1);
}
