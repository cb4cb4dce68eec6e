namespace YoloFleet.Cloud.Data.Entities;

/// <summary>One version of a model that can be rolled out (or that the verifier runs). (name, version) is unique.</summary>
public sealed class ModelVersionRecord
{
    public long Id { get; set; }

    public required string Name { get; set; }

    public required string Version { get; set; }

    /// <summary>Hex SHA-256 of the ONNX file, 64 lower-case characters.</summary>
    public required string Sha256 { get; set; }

    public long SizeBytes { get; set; }

    /// <summary>"int8" or "fp32".</summary>
    public required string Format { get; set; }

    /// <summary>The model manifest as JSON (jsonb).</summary>
    public required string ManifestJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>A detached signature over the file, once model signing exists.</summary>
    public byte[]? Signature { get; set; }
}

/// <summary>A staged rollout of a model version to a cohort of devices.</summary>
public sealed class RolloutRecord
{
    public long Id { get; set; }

    public long ModelVersionId { get; set; }

    /// <summary>Which devices: a cohort name ("all", a site, a tag).</summary>
    public required string Cohort { get; set; }

    /// <summary>Share of the cohort that gets the model, 0-100.</summary>
    public int Percent { get; set; }

    /// <summary>"pending", "running", "paused", "completed", "rolled-back".</summary>
    public required string State { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}
