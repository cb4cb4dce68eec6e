namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// A background job on a model version (today: quantize). Its inputs (parent artifact, calibration and held-out frames
/// by content hash, settings) are resolved when it is submitted and hashed into <see cref="InputsKey"/>, which is
/// unique: asking twice for the same inputs finds the same job.
/// </summary>
public sealed class ModelJobRecord
{
    public long Id { get; set; }

    /// <summary>"quantize".</summary>
    public required string Kind { get; set; }

    public required string ModelName { get; set; }

    /// <summary>The version whose FP32 variant is the input.</summary>
    public int SourceVersion { get; set; }

    /// <summary>SHA-256 (hex) over every input; unique.</summary>
    public required string InputsKey { get; set; }

    /// <summary>"queued", "running", "succeeded" or "failed".</summary>
    public required string State { get; set; }

    /// <summary>0-100.</summary>
    public int Percent { get; set; }

    /// <summary>What it is doing now, for people.</summary>
    public string Message { get; set; } = "";

    /// <summary>Why it failed; null unless <see cref="State"/> is "failed".</summary>
    public string? Error { get; set; }

    /// <summary>The resolved inputs (jsonb): parent, settings, calibration and held-out frames with their hashes.</summary>
    public required string InputsJson { get; set; }

    /// <summary>The silo running it (host and port), so a job whose silo died can be taken over.</summary>
    public string? ClaimedBy { get; set; }

    /// <summary>The INT8 variant it made.</summary>
    public long? ResultVariantId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Moves with every progress report: a running job whose heartbeat stops is taken over.</summary>
    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>
/// One device's part of an assignment: which model version it should run, in which slot, and (once chosen) which
/// variant. The newest row of a device is its desired state (the retained ModelAssigned on its model topic).
/// </summary>
public sealed class ModelAssignmentRecord
{
    /// <summary>Shared by every device of one POST /api/assignments.</summary>
    public required string AssignmentId { get; set; }

    public required string DeviceId { get; set; }

    public required string ModelName { get; set; }

    public int Version { get; set; }

    /// <summary>"active" or "shadow".</summary>
    public required string Slot { get; set; }

    public long Fp32VariantId { get; set; }

    public long? Int8VariantId { get; set; }

    /// <summary>The variant the device is to run; null while the cloud waits for the device's benchmarks.</summary>
    public string? SelectedSha256 { get; set; }

    /// <summary>The health check's latency bound for the device (0: its own default).</summary>
    public float MaxLatencyMs { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? SelectedAt { get; set; }

    /// <summary>Counts changes to the device's message (a choice of variant, fresh download URLs).</summary>
    public int Revision { get; set; }

    /// <summary>The revision the broker last accepted; the message waits to be (re)published while it differs from <see cref="Revision"/>.</summary>
    public int? PublishedRevision { get; set; }

    /// <summary>When the broker last accepted this device's message.</summary>
    public DateTimeOffset? PublishedAt { get; set; }

    /// <summary>The expiry of the download tokens in the published URLs (refreshed before they run out).</summary>
    public DateTimeOffset TokenExpiresAt { get; set; }
}

/// <summary>Why the cloud chose a variant for a device: one row per decision, with the figures it compared.</summary>
public sealed class ModelSelectionRecord
{
    public long Id { get; set; }

    public required string DeviceId { get; set; }

    public required string AssignmentId { get; set; }

    public required string Fp32Sha256 { get; set; }

    public string? Int8Sha256 { get; set; }

    public float? Fp32P50Ms { get; set; }

    public float? Int8P50Ms { get; set; }

    public required string ChosenSha256 { get; set; }

    /// <summary>"fp32" or "int8".</summary>
    public required string ChosenPrecision { get; set; }

    /// <summary>"benchmarked" (the device's report), "known-figures" (earlier figures of the same hashes) or "single-variant".</summary>
    public required string Basis { get; set; }

    /// <summary>The decision in words, with the numbers.</summary>
    public required string Reason { get; set; }

    public string CpuFeatures { get; set; } = "";

    public DateTimeOffset DecidedAt { get; set; }
}

/// <summary>One ModelAssignmentAcknowledged message: a stage a device reached, or a refusal and its reason.</summary>
public sealed class ModelEventRecord
{
    public required string DeviceId { get; set; }

    /// <summary>The message's envelope sequence: (device, sequence) is unique, so a redelivery is stored once.</summary>
    public long Sequence { get; set; }

    public required string AssignmentId { get; set; }

    public required string Stage { get; set; }

    public bool Accepted { get; set; }

    public string ReasonCode { get; set; } = "";

    public string Error { get; set; } = "";

    public string Sha256 { get; set; } = "";

    public string ActiveSha256 { get; set; } = "";

    public string CandidateSha256 { get; set; } = "";

    public string CpuFeatures { get; set; } = "";

    /// <summary>Device clock.</summary>
    public DateTimeOffset SentAt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }
}

/// <summary>A variant's latest latency measured on a device (from a "benchmarked" acknowledgement).</summary>
public sealed class ModelBenchmarkRecord
{
    public required string DeviceId { get; set; }

    public required string Sha256 { get; set; }

    /// <summary>"fp32" or "int8".</summary>
    public required string Precision { get; set; }

    public float P50Ms { get; set; }

    public float P95Ms { get; set; }

    public int Runs { get; set; }

    public bool Throttled { get; set; }

    public string CpuFeatures { get; set; } = "";

    public DateTimeOffset MeasuredAt { get; set; }
}
