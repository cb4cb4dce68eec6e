using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class DeviceRecordConfiguration : IEntityTypeConfiguration<DeviceRecord>
{
    public void Configure(EntityTypeBuilder<DeviceRecord> builder)
    {
        builder.ToTable("devices");
        builder.HasKey(d => d.DeviceId);
        builder.Property(d => d.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(d => d.DisplayName).HasColumnName("display_name").HasMaxLength(128).HasDefaultValue("");
        builder.Property(d => d.Status).HasColumnName("status").HasMaxLength(16).HasDefaultValue(DeviceStatus.Active);
        builder.Property(d => d.DeviceGroup).HasColumnName("device_group").HasMaxLength(64);
        builder.Property(d => d.RegisteredAt).HasColumnName("registered_at").HasDefaultValueSql("now()");
        builder.Property(d => d.FirstSeenAt).HasColumnName("first_seen_at");
        builder.Property(d => d.LastSeenAt).HasColumnName("last_seen_at");
        builder.HasIndex(d => d.DeviceGroup).HasDatabaseName("ix_devices_device_group");
    }
}

internal sealed class FrameRecordConfiguration : IEntityTypeConfiguration<FrameRecord>
{
    public void Configure(EntityTypeBuilder<FrameRecord> builder)
    {
        builder.ToTable("frames");
        builder.HasKey(f => new { f.DeviceId, f.Sequence });
        builder.Property(f => f.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(f => f.Sequence).HasColumnName("sequence");
        builder.Property(f => f.CapturedAt).HasColumnName("captured_at");
        builder.Property(f => f.ReceivedAt).HasColumnName("received_at");
        builder.Property(f => f.CommittedAt).HasColumnName("committed_at").HasDefaultValueSql("clock_timestamp()");
        builder.Property(f => f.ModelVersion).HasColumnName("model_version").HasMaxLength(128);
        builder.Property(f => f.FrameWidth).HasColumnName("frame_width");
        builder.Property(f => f.FrameHeight).HasColumnName("frame_height");
        builder.Property(f => f.InferenceMs).HasColumnName("inference_ms");
        builder.Property(f => f.FrameRef).HasColumnName("frame_ref").HasMaxLength(256);
        builder.Property(f => f.DetectionCount).HasColumnName("detection_count");
        builder.Property(f => f.Throttled).HasColumnName("throttled").HasDefaultValue(false);
        builder.Property(f => f.ModelSha256).HasColumnName("model_sha256").HasMaxLength(64).HasDefaultValue("");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(f => f.DeviceId);
        builder.HasIndex(f => f.CapturedAt).HasDatabaseName("ix_frames_captured_at");

        // Retention ages frames by the silo's clock (a device with a wrong clock must not lose its rows at once). Rows
        // arrive in received_at order, which is what BRIN summarises best.
        builder.HasIndex(f => f.ReceivedAt).HasDatabaseName("ix_frames_received_at_brin").HasMethod("brin");
    }
}

internal sealed class DetectionRecordConfiguration : IEntityTypeConfiguration<DetectionRecord>
{
    public void Configure(EntityTypeBuilder<DetectionRecord> builder)
    {
        builder.ToTable("detections");
        builder.HasKey(d => new { d.DeviceId, d.Sequence, d.Index });
        builder.Property(d => d.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(d => d.Sequence).HasColumnName("sequence");
        builder.Property(d => d.Index).HasColumnName("idx");
        builder.Property(d => d.CapturedAt).HasColumnName("captured_at");
        builder.Property(d => d.ClassId).HasColumnName("class_id");
        builder.Property(d => d.Score).HasColumnName("score");
        builder.Property(d => d.X1).HasColumnName("x1");
        builder.Property(d => d.Y1).HasColumnName("y1");
        builder.Property(d => d.X2).HasColumnName("x2");
        builder.Property(d => d.Y2).HasColumnName("y2");

        // No foreign key to frames: it cost a referential-integrity trigger and a row lock on the frame for every box,
        // about 40 % of PostgreSQL's time per box (docs/storage.md). The one writer (FrameBatchWriter) copies a frame's boxes
        // in the transaction that inserted the frame, and retention deletes a frame's boxes with it (RetentionSweeper).

        // A BRIN index on the time column, not a btree and not partitions: see docs/storage.md for the measurement.
        builder.HasIndex(d => d.CapturedAt).HasDatabaseName("ix_detections_captured_at_brin").HasMethod("brin");
    }
}
