namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// One variant (FP32 or INT8) of one version of a model: an artifact in the artifact store, by SHA-256, with its
/// signed manifest. (name, version, format) is unique; a version has its uploaded FP32 variant and at most one INT8
/// variant made from it by a quantize job. See docs/registry.md.
/// </summary>
public sealed class ModelVariantRecord
{
    public long Id { get; set; }

    public required string Name { get; set; }

    /// <summary>The version number within <see cref="Name"/>: 1, 2, 3, ... in upload order, never reused.</summary>
    public int Version { get; set; }

    /// <summary>Hex SHA-256 of the ONNX file, 64 lower-case characters: the artifact's key in the store.</summary>
    public required string Sha256 { get; set; }

    public long SizeBytes { get; set; }

    /// <summary>"int8" or "fp32".</summary>
    public required string Format { get; set; }

    /// <summary>The signed model manifest as JSON (jsonb); its signature covers the SHA-256 and size.</summary>
    public required string ManifestJson { get; set; }

    /// <summary>The id of the key that signed the manifest ("p256:..."), to find manifests signed by a retired key.</summary>
    public required string SigningKeyId { get; set; }

    /// <summary>For an INT8 variant: the FP32 variant it was quantized from.</summary>
    public long? ParentId { get; set; }

    /// <summary>For an INT8 variant: the quantize job that made it.</summary>
    public long? JobId { get; set; }

    /// <summary>For an INT8 variant: the quantize job's report (jsonb): agreement with FP32, latency, size, calibration.</summary>
    public string? ReportJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
