using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud.Registry;

/// <summary>
/// Configuration section "Cloud:Models": where artifacts and keys live, the quantize job's calibration, download
/// tokens and the INT8 choice. Validated at start. Paths left unset default to files in the silo's state directory
/// (<see cref="StateDirectory"/>, from Cloud:StateDirectory), created on first use with owner-only permissions.
/// </summary>
public sealed class ModelRegistryOptions : IValidatableObject
{
    public const string Section = "Cloud:Models";

    /// <summary>The silo's state directory (Cloud:StateDirectory); the host fills it in.</summary>
    public string StateDirectory { get; set; } = "";

    /// <summary>Where artifacts are stored by SHA-256. Every silo of a cluster must see the same files (a shared volume).</summary>
    public string? ArtifactDirectory { get; set; }

    /// <summary>The ECDSA P-256 private key (PEM) that signs manifests. Unset: a key in the state directory, made on first use.</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>The secret (32 random bytes) behind download tokens. Unset: a file in the state directory, made on first use.</summary>
    public string? DownloadTokenKeyFile { get; set; }

    /// <summary>Images to calibrate on when the fleet has too few hard frames. Unset: ../shared/datasets/coco128/images.</summary>
    public string? FallbackCalibrationFolder { get; set; }

    /// <summary>Calibration frames per quantize job (the quantize verb's --calib-images default).</summary>
    [Range(1, 4096)]
    public int CalibrationFrames { get; set; } = YoloFleet.Onnx.Quantization.QuantizerOptions.DefaultCalibrationImages;

    /// <summary>Frames held back from calibration to compare INT8 with FP32 on.</summary>
    [Range(1, 4096)]
    public int HeldOutFrames { get; set; } = 32;

    /// <summary>Fewer calibration frames than this among the fleet's hard frames, and the job calibrates on the fallback folder.</summary>
    [Range(1, 4096)]
    public int MinHardFrames { get; set; } = 16;

    /// <summary>How many of the newest hard frames a job considers (split by content hash into calibration and held-out).</summary>
    [Range(2, 100_000)]
    public int HardFrameWindow { get; set; } = 256;

    /// <summary>Rounds over the held-out frames when timing FP32 against INT8.</summary>
    [Range(1, 100)]
    public int LatencyRounds { get; set; } = 3;

    /// <summary>ONNX Runtime intra-op threads for the job's evaluation (the silo also ingests; keep it small).</summary>
    [Range(1, 64)]
    public int JobThreads { get; set; } = 1;

    /// <summary>
    /// Whether this silo runs quantize jobs. The quantizer uses every core while it runs (ONNX Runtime's defaults), so a
    /// cluster may keep its ingest silos free of jobs and leave them to one silo; any silo still accepts submissions.
    /// </summary>
    public bool RunJobs { get; set; } = true;

    /// <summary>How often an idle silo looks for queued jobs (it is also woken when one is submitted to it).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan JobPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A running job whose progress has not moved for this long is taken over (its silo died).</summary>
    [Range(typeof(TimeSpan), "00:00:30", "1.00:00:00")]
    public TimeSpan JobStaleAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The base URL devices download artifacts from (https://fleet.example.com). Unset: the silo's own first address.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>How long a download URL stays valid. Retained assignments are republished with fresh URLs before they expire.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "90.00:00:00")]
    public TimeSpan DownloadTokenLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>INT8 is chosen for a device only if its median latency there is at most (1 - this) of FP32's.</summary>
    [Range(0.0, 0.9)]
    public double Int8MinSpeedup { get; set; } = 0.05;

    /// <summary>The largest model upload accepted.</summary>
    [Range(1024, 4L * 1024 * 1024 * 1024)]
    public long MaxUploadBytes { get; set; } = 512L * 1024 * 1024;

    public string ResolvedArtifactDirectory => ArtifactDirectory is { Length: > 0 } dir ? dir : Path.Combine(StateDirectory, "artifacts");

    public string ResolvedSigningKeyFile => SigningKeyFile is { Length: > 0 } file ? file : Path.Combine(StateDirectory, "keys", "manifest-signing.pem");

    public string ResolvedDownloadTokenKeyFile =>
        DownloadTokenKeyFile is { Length: > 0 } file ? file : Path.Combine(StateDirectory, "keys", "download-token.key");

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (string.IsNullOrWhiteSpace(StateDirectory) && (ArtifactDirectory is not { Length: > 0 } || SigningKeyFile is not { Length: > 0 } || DownloadTokenKeyFile is not { Length: > 0 }))
        {
            yield return new ValidationResult("Cloud:StateDirectory is empty; set it, or set Cloud:Models:ArtifactDirectory, SigningKeyFile and DownloadTokenKeyFile.", [nameof(StateDirectory)]);
        }

        if (SigningKeyFile is { Length: > 0 } key && !File.Exists(key))
        {
            yield return new ValidationResult(
                $"Cloud:Models:SigningKeyFile '{key}' does not exist. Leave it unset to have the silo make a key in its state directory, or create one (docs/registry.md).",
                [nameof(SigningKeyFile)]);
        }

        if (DownloadTokenKeyFile is { Length: > 0 } secret && !File.Exists(secret))
        {
            yield return new ValidationResult(
                $"Cloud:Models:DownloadTokenKeyFile '{secret}' does not exist. Leave it unset to have the silo make one in its state directory.",
                [nameof(DownloadTokenKeyFile)]);
        }

        if (PublicBaseUrl is { Length: > 0 } url &&
            !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)))
        {
            yield return new ValidationResult($"Cloud:Models:PublicBaseUrl '{url}' is not an absolute http(s) URL.", [nameof(PublicBaseUrl)]);
        }

        if (MinHardFrames > CalibrationFrames)
        {
            yield return new ValidationResult(
                $"Cloud:Models:MinHardFrames ({MinHardFrames}) is more than CalibrationFrames ({CalibrationFrames}): the hard frames could never be enough.",
                [nameof(MinHardFrames)]);
        }
    }
}
