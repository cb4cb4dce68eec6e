using YoloFleet.Inference.Manifest;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// The machine-readable reason_code of a ModelAssignmentAcknowledged that is not accepted, beside the manifest codes
/// of <see cref="ManifestRejection"/> (unsigned, unknown-key, bad-signature, hash-mismatch, size-mismatch,
/// bad-manifest). docs/edge-agent.md lists them with what an operator should do.
/// </summary>
public static class ModelReasonCodes
{
    /// <summary>The assignment could not be decoded, or is invalid (no variants, a bad URL, a selection naming no variant).</summary>
    public const string Malformed = "malformed";

    /// <summary>The file could not be fetched within the attempts allowed (retried later).</summary>
    public const string DownloadFailed = "download-failed";

    /// <summary>Not enough free space, or the model is larger than Agent:Models:MaxModelBytes.</summary>
    public const string Disk = "disk";

    /// <summary>ONNX Runtime or the detector refused the model (not ONNX, no supported layout, contradicts its manifest).</summary>
    public const string LoadFailed = "load-failed";

    /// <summary>The model failed on the self-test image or produced outputs its layout does not expect.</summary>
    public const string HealthShape = "health-shape";

    /// <summary>The model's median latency was over the bound.</summary>
    public const string HealthLatency = "health-latency";

    /// <summary>The agent died while running a model it had switched to but not confirmed, too many times.</summary>
    public const string HealthCrash = "health-crash";

    /// <summary>A slot's model file or manifest is gone, or the slot state cannot be read (found at start).</summary>
    public const string Missing = "missing";

    /// <summary>An unexpected error in the agent itself; its log has the details.</summary>
    public const string Internal = "internal";
}

/// <summary>The stage of a ModelAssignmentAcknowledged.</summary>
public static class ModelStages
{
    public const string Downloading = "downloading";
    public const string Verified = "verified";
    public const string Benchmarked = "benchmarked";
    public const string Activated = "activated";
    public const string Shadowing = "shadowing";
    public const string Rejected = "rejected";
    public const string Failed = "failed";
    public const string RolledBack = "rolled-back";
}
