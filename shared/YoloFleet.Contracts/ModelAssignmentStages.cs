namespace YoloFleet.Contracts;

/// <summary>
/// The stages a <c>ModelAssignmentAcknowledged</c> reports (docs/registry.md), and the slots of a <c>ModelAssigned</c>.
/// The cloud refuses an acknowledgement with any other stage, or whose <c>accepted</c> flag contradicts its stage.
/// </summary>
public static class ModelAssignmentStages
{
    public const string Downloading = "downloading";
    public const string Verified = "verified";
    public const string Benchmarked = "benchmarked";
    public const string Activated = "activated";
    public const string Shadowing = "shadowing";
    public const string Rejected = "rejected";
    public const string Failed = "failed";
    public const string RolledBack = "rolled-back";

    public const string ActiveSlot = "active";
    public const string ShadowSlot = "shadow";

    /// <summary>Every stage, in the order an assignment goes through them.</summary>
    public static readonly IReadOnlyList<string> All = [Downloading, Verified, Benchmarked, Activated, Shadowing, Rejected, Failed, RolledBack];

    public static bool IsKnown(string stage) => All.Contains(stage);

    /// <summary>Stages that report a refusal or failure: they come with <c>accepted = false</c> and a reason code.</summary>
    public static bool IsRefusal(string stage) => stage is Rejected or Failed or RolledBack;

    public static bool IsSlot(string slot) => slot is ActiveSlot or ShadowSlot;
}
