namespace YoloFleet.Cloud.Data.Entities;

/// <summary>
/// A hard frame (HardFrameUploaded): the JPEG and the edge's own boxes. The JPEG lives in the row (bytea, stored out of
/// line by TOAST): one transaction with the row, one retention rule, no file store shared between silos. See docs/storage.md.
/// </summary>
public sealed class HardFrameRecord
{
    public required string DeviceId { get; set; }

    /// <summary>The hard frame message's own sequence.</summary>
    public long Sequence { get; set; }

    /// <summary>The sequence of the DetectionsPublished message for the same frame.</summary>
    public long DetectionsSequence { get; set; }

    public DateTimeOffset CapturedAt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    public required string ModelVersion { get; set; }

    public required string Reason { get; set; }

    public required byte[] Jpeg { get; set; }

    /// <summary>The edge's boxes as a JSON array of {c,s,x1,y1,x2,y2} (jsonb).</summary>
    public required string EdgeDetectionsJson { get; set; }

    /// <summary>The SHA-256 of the model that produced the edge's boxes; "" from agents that do not say.</summary>
    public string ModelSha256 { get; set; } = "";

    /// <summary>A candidate running in shadow on this frame: its SHA-256 ("" for none), version and boxes (jsonb, null for none).</summary>
    public string ShadowModelSha256 { get; set; } = "";

    public string ShadowModelVersion { get; set; } = "";

    public string? ShadowDetectionsJson { get; set; }
}

/// <summary>
/// The FP32 verifier's verdict on one hard frame: the edge's boxes against the cloud model's, matched at IoU 0.5, same
/// class, greedy by score.
/// </summary>
public sealed class VerificationRecord
{
    /// <summary>The boxes of the model that ran the frame live.</summary>
    public const string EdgeRole = "edge";

    /// <summary>The boxes of a candidate that ran the same frame in shadow.</summary>
    public const string ShadowRole = "shadow";

    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    /// <summary>Whose boxes are judged: <see cref="EdgeRole"/> or <see cref="ShadowRole"/>. One verdict per frame and role.</summary>
    public string Role { get; set; } = EdgeRole;

    /// <summary>The SHA-256 of the model whose boxes are judged; "" when the device did not say.</summary>
    public string ModelSha256 { get; set; } = "";

    /// <summary>The edge model that produced the boxes being judged.</summary>
    public required string ModelVersion { get; set; }

    /// <summary>The cloud (FP32) model used as the reference.</summary>
    public required string VerifierModel { get; set; }

    public DateTimeOffset CapturedAt { get; set; }

    public DateTimeOffset VerifiedAt { get; set; }

    public int EdgeBoxes { get; set; }

    public int ReferenceBoxes { get; set; }

    public int Matched { get; set; }

    /// <summary>Matched / edge boxes; 1 when the edge found nothing (nothing it said was wrong).</summary>
    public float Precision { get; set; }

    /// <summary>Matched / reference boxes; 1 when the reference found nothing.</summary>
    public float Recall { get; set; }

    public float MeanIou { get; set; }

    /// <summary>Classes the reference found that the edge matched no box of.</summary>
    public int[] MissedClasses { get; set; } = [];

    /// <summary>Per score bin (edge score, 10 bins of 0.1): matched pairs, sum of edge scores, sum of FP32 scores.</summary>
    public int[] CalibrationCount { get; set; } = [];

    public float[] CalibrationEdgeSum { get; set; } = [];

    public float[] CalibrationReferenceSum { get; set; } = [];

    public float VerifyMs { get; set; }
}

/// <summary>One TelemetryReported message.</summary>
public sealed class TelemetryRecord
{
    public required string DeviceId { get; set; }

    public long Sequence { get; set; }

    /// <summary>When the device sent it (device clock).</summary>
    public DateTimeOffset SentAt { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    public float FramesPerSecond { get; set; }

    public float CpuPercent { get; set; }

    public float RssMb { get; set; }

    public float? TemperatureC { get; set; }

    public int? ThrottledFlags { get; set; }

    public long OutboxDepth { get; set; }

    public long OutboxEvicted { get; set; }

    public long FramesDropped { get; set; }

    public long SourceFailures { get; set; }

    public string SourceError { get; set; } = "";

    public string ModelVersion { get; set; } = "";

    /// <summary>Per-stage latency as a JSON array of {stage,p50,p95} (jsonb).</summary>
    public string StagesJson { get; set; } = "[]";

    /// <summary>The device twin's reported half: SHA-256 of the model running (slot A) and of the candidate (slot B); "" for none.</summary>
    public string ActiveModelSha256 { get; set; } = "";

    public string CandidateModelSha256 { get; set; } = "";

    public bool Throttled { get; set; }
}
