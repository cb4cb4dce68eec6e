namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// One staged rollout of a candidate model version against a baseline (docs/rollout.md): its definition, where it
/// stands, and what it needs to undo itself. The rollout grain is its only writer; on activation it reloads from here,
/// so a rollout survives a silo restart.
/// </summary>
public sealed class RolloutRecord
{
    /// <summary>"ro-" and 32 hex digits; also the grain's key and the cohort hash's salt.</summary>
    public required string Id { get; set; }

    public required string ModelName { get; set; }

    public int CandidateVersion { get; set; }

    /// <summary>The version the control group runs; devices with no earlier assignment go back to it on a rollback.</summary>
    public int BaselineVersion { get; set; }

    /// <summary>"fleet", "group" or "devices".</summary>
    public required string TargetKind { get; set; }

    /// <summary>The group, for a group target.</summary>
    public string? TargetGroup { get; set; }

    /// <summary>The target's devices, resolved when the rollout started (no device is in two active rollouts).</summary>
    public string[] TargetDevices { get; set; } = [];

    /// <summary>The stages (jsonb): share, minimum soak, minimum samples.</summary>
    public required string StagesJson { get; set; }

    /// <summary>The gates' settings (jsonb): the sequential test's design, latency and refusal bounds.</summary>
    public required string GatesJson { get; set; }

    /// <summary>"running", "paused", "completed", "rolled-back", "aborted" or "stopped".</summary>
    public required string State { get; set; }

    /// <summary>The stage the rollout is in (0-based).</summary>
    public int StageIndex { get; set; }

    /// <summary>When the current stage began: its soak and its samples count from here.</summary>
    public DateTimeOffset StageStartedAt { get; set; }

    /// <summary>Each device's model before the rollout (jsonb, device id to "name@version"; absent: none).</summary>
    public required string PreviousModelsJson { get; set; }

    /// <summary>The assignments the rollout made (candidate per stage, then any roll-back).</summary>
    public string[] AssignmentIds { get; set; } = [];

    /// <summary>The last gate evaluation (jsonb), for the status view.</summary>
    public string? LastGateJson { get; set; }

    /// <summary>Why it paused or ended; "" while it runs.</summary>
    public string Reason { get; set; } = "";

    public required string CreatedBy { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>The audit trail of a rollout: every transition and gate decision, when, by whom, why, and the figures behind it.</summary>
public sealed class RolloutEventRecord
{
    public long Id { get; set; }

    public required string RolloutId { get; set; }

    public DateTimeOffset At { get; set; }

    /// <summary>"system" or "operator" (with the caller's name where known, "operator:name").</summary>
    public required string Actor { get; set; }

    /// <summary>"started", "stage-entered", "promoted", "paused", "resumed", "completed", "rolled-back", "aborted", "stopped".</summary>
    public required string Kind { get; set; }

    public required string FromState { get; set; }

    public required string ToState { get; set; }

    public int StageIndex { get; set; }

    public required string Reason { get; set; }

    /// <summary>The gate figures and sample sizes behind the decision (jsonb), when there were any.</summary>
    public string? FiguresJson { get; set; }
}
