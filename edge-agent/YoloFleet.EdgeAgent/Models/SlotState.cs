using System.Text.Json.Serialization;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// The slot state file (<c>{StateDirectory}/models/slots.json</c>): which installed model is slot A (active) and which is
/// slot B (candidate). It is only ever replaced whole (write, fsync, rename, fsync of the folder), so a crash leaves
/// either the old state or the new one.
/// </summary>
public sealed record SlotState
{
    public const int CurrentSchemaVersion = 1;

    public static SlotState Empty { get; } = new();

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>Slot A: the model to run; null runs the factory model (<c>Agent:ModelPath</c>).</summary>
    public SlotEntry? Active { get; init; }

    /// <summary>
    /// False from the switch to a new model until the frames after it confirmed it (<see cref="ModelOptions.ConfirmFrames"/>).
    /// A start on an unconfirmed model re-runs its health check first, and falls back after
    /// <see cref="ModelOptions.MaxUnconfirmedStarts"/> such starts.
    /// </summary>
    public bool ActiveConfirmed { get; init; } = true;

    /// <summary>How many times the agent started on the active model while it was unconfirmed.</summary>
    public int UnconfirmedStarts { get; init; }

    /// <summary>Slot B: the model installed beside the active one; see <see cref="SlotEntry.Status"/>.</summary>
    public SlotEntry? Candidate { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>One installed model: a folder <c>models/slots/{sha256}/</c> holding the model file and its signed manifest.</summary>
public sealed record SlotEntry
{
    /// <summary>The model file's SHA-256 (64 lower-case hex digits), which also names its folder.</summary>
    public required string Sha256 { get; init; }

    /// <summary>The model file's name inside the folder.</summary>
    public required string File { get; init; }

    /// <summary>"name@version" from the manifest, for people.</summary>
    public string Version { get; init; } = "";

    /// <summary>The assignment that installed it.</summary>
    public string AssignmentId { get; init; } = "";

    /// <summary>The health check's latency bound it was installed with (ms; 0: Agent:Models:MaxLatencyMs).</summary>
    public double MaxLatencyMs { get; init; }

    /// <summary>For slot B: what it holds (slot A is always <see cref="SlotStatus.Active"/>).</summary>
    public SlotStatus Status { get; init; }
}

[JsonConverter(typeof(JsonStringEnumConverter<SlotStatus>))]
public enum SlotStatus
{
    /// <summary>Slot A.</summary>
    Active,

    /// <summary>The model that ran before the active one, which passed its checks then: the fallback.</summary>
    Previous,

    /// <summary>Installed and verified, not (yet) health-checked: a candidate in progress, or a model no longer shadowed.</summary>
    Installed,

    /// <summary>
    /// Health-checked and running in shadow beside slot A (a shadow assignment). A start verifies it again (signature,
    /// size, SHA-256), health-checks it and resumes shadowing it.
    /// </summary>
    Shadow,

    /// <summary>It failed its health check (or its start); kept for inspection, never a fallback.</summary>
    Failed,
}

/// <summary>The last assignment the agent finished (<c>models/assignment.json</c>), so a retained one seen again is not redone.</summary>
public sealed record AssignmentRecord
{
    public required string AssignmentId { get; init; }

    public string SelectedSha256 { get; init; } = "";

    public string Slot { get; init; } = "";

    /// <summary>The stage it ended in ("activated", "rejected", "rolled-back", "benchmarked", "shadowing").</summary>
    public required string Outcome { get; init; }

    public DateTimeOffset FinishedAt { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true)]
[JsonSerializable(typeof(SlotState))]
[JsonSerializable(typeof(AssignmentRecord))]
internal sealed partial class SlotStateJsonContext : JsonSerializerContext;
