using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class HardFrameRecordConfiguration : IEntityTypeConfiguration<HardFrameRecord>
{
    public void Configure(EntityTypeBuilder<HardFrameRecord> builder)
    {
        builder.ToTable("hard_frames");
        builder.HasKey(h => new { h.DeviceId, h.Sequence });
        builder.Property(h => h.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(h => h.Sequence).HasColumnName("sequence");
        builder.Property(h => h.DetectionsSequence).HasColumnName("detections_sequence");
        builder.Property(h => h.CapturedAt).HasColumnName("captured_at");
        builder.Property(h => h.ReceivedAt).HasColumnName("received_at");
        builder.Property(h => h.ModelVersion).HasColumnName("model_version").HasMaxLength(128);
        builder.Property(h => h.Reason).HasColumnName("reason").HasMaxLength(32);
        builder.Property(h => h.Jpeg).HasColumnName("jpeg");
        builder.Property(h => h.EdgeDetectionsJson).HasColumnName("edge_detections").HasColumnType("jsonb");
        builder.Property(h => h.ModelSha256).HasColumnName("model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.Property(h => h.ShadowModelSha256).HasColumnName("shadow_model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.Property(h => h.ShadowModelVersion).HasColumnName("shadow_model_version").HasMaxLength(128).HasDefaultValue("");
        builder.Property(h => h.ShadowDetectionsJson).HasColumnName("shadow_detections").HasColumnType("jsonb");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(h => h.DeviceId);
        builder.HasIndex(h => h.ReceivedAt).HasDatabaseName("ix_hard_frames_received_at");

        // The analytics' hard-frame rate ranges over capture time (docs/analytics.md).
        builder.HasIndex(h => h.CapturedAt).HasDatabaseName("ix_hard_frames_captured_at");
    }
}

internal sealed class VerificationRecordConfiguration : IEntityTypeConfiguration<VerificationRecord>
{
    public void Configure(EntityTypeBuilder<VerificationRecord> builder)
    {
        builder.ToTable("verifications", t => t.HasCheckConstraint("ck_verifications_role", "role IN ('edge', 'shadow')"));
        builder.HasKey(v => new { v.DeviceId, v.Sequence, v.Role });
        builder.Property(v => v.Role).HasColumnName("role").HasMaxLength(8).HasDefaultValue(VerificationRecord.EdgeRole);
        builder.Property(v => v.ModelSha256).HasColumnName("model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.Property(v => v.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(v => v.Sequence).HasColumnName("sequence");
        builder.Property(v => v.ModelVersion).HasColumnName("model_version").HasMaxLength(128);
        builder.Property(v => v.VerifierModel).HasColumnName("verifier_model").HasMaxLength(128);
        builder.Property(v => v.CapturedAt).HasColumnName("captured_at");
        builder.Property(v => v.VerifiedAt).HasColumnName("verified_at");
        builder.Property(v => v.EdgeBoxes).HasColumnName("edge_boxes");
        builder.Property(v => v.ReferenceBoxes).HasColumnName("reference_boxes");
        builder.Property(v => v.Matched).HasColumnName("matched");
        builder.Property(v => v.Precision).HasColumnName("precision");
        builder.Property(v => v.Recall).HasColumnName("recall");
        builder.Property(v => v.MeanIou).HasColumnName("mean_iou");
        builder.Property(v => v.MissedClasses).HasColumnName("missed_classes");
        builder.Property(v => v.CalibrationCount).HasColumnName("calibration_count");
        builder.Property(v => v.CalibrationEdgeSum).HasColumnName("calibration_edge_sum");
        builder.Property(v => v.CalibrationReferenceSum).HasColumnName("calibration_reference_sum");
        builder.Property(v => v.VerifyMs).HasColumnName("verify_ms");

        // A verdict lives and dies with its hard frame.
        builder.HasOne<HardFrameRecord>().WithMany().HasForeignKey(v => new { v.DeviceId, v.Sequence }).OnDelete(DeleteBehavior.Cascade);

        // The rollout's agreement gate reads verdicts per model and time.
        builder.HasIndex(v => new { v.ModelSha256, v.VerifiedAt }).HasDatabaseName("ix_verifications_model_sha256_verified_at");
        builder.HasIndex(v => new { v.ModelVersion, v.VerifiedAt }).HasDatabaseName("ix_verifications_model_version_verified_at");
        builder.HasIndex(v => v.VerifiedAt).HasDatabaseName("ix_verifications_verified_at");

        // The analytics' agreement over time reads the edge's verdicts by capture time; shadow verdicts never (docs/analytics.md).
        builder.HasIndex(v => v.CapturedAt).HasDatabaseName("ix_verifications_edge_captured_at").HasFilter("role = 'edge'");
    }
}

internal sealed class TelemetryRecordConfiguration : IEntityTypeConfiguration<TelemetryRecord>
{
    public void Configure(EntityTypeBuilder<TelemetryRecord> builder)
    {
        builder.ToTable("telemetry");
        builder.HasKey(t => new { t.DeviceId, t.Sequence });
        builder.Property(t => t.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(t => t.Sequence).HasColumnName("sequence");
        builder.Property(t => t.SentAt).HasColumnName("sent_at");
        builder.Property(t => t.ReceivedAt).HasColumnName("received_at");
        builder.Property(t => t.FramesPerSecond).HasColumnName("frames_per_second");
        builder.Property(t => t.CpuPercent).HasColumnName("cpu_percent");
        builder.Property(t => t.RssMb).HasColumnName("rss_mb");
        builder.Property(t => t.TemperatureC).HasColumnName("temperature_c");
        builder.Property(t => t.ThrottledFlags).HasColumnName("throttled_flags");
        builder.Property(t => t.OutboxDepth).HasColumnName("outbox_depth");
        builder.Property(t => t.OutboxEvicted).HasColumnName("outbox_evicted");
        builder.Property(t => t.FramesDropped).HasColumnName("frames_dropped");
        builder.Property(t => t.SourceFailures).HasColumnName("source_failures");
        builder.Property(t => t.SourceError).HasColumnName("source_error").HasMaxLength(512);
        builder.Property(t => t.ModelVersion).HasColumnName("model_version").HasMaxLength(128);
        builder.Property(t => t.StagesJson).HasColumnName("stages").HasColumnType("jsonb");
        builder.Property(t => t.ActiveModelSha256).HasColumnName("active_model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.Property(t => t.CandidateModelSha256).HasColumnName("candidate_model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.Property(t => t.Throttled).HasColumnName("throttled").HasDefaultValue(false);
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(t => t.DeviceId);
        builder.HasIndex(t => t.ReceivedAt).HasDatabaseName("ix_telemetry_received_at");

        // Fleet health reads each device's newest report (docs/analytics.md).
        builder.HasIndex(t => new { t.DeviceId, t.ReceivedAt }).HasDatabaseName("ix_telemetry_device_id_received_at");
    }
}
