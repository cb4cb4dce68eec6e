using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class ObjectEventRecordConfiguration : IEntityTypeConfiguration<ObjectEventRecord>
{
    public void Configure(EntityTypeBuilder<ObjectEventRecord> builder)
    {
        builder.ToTable("object_events", t => t.HasCheckConstraint("ck_object_events_kind", "kind IN ('started', 'updated', 'ended')"));
        builder.HasKey(e => new { e.DeviceId, e.Sequence });
        builder.Property(e => e.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(e => e.Sequence).HasColumnName("sequence");
        builder.Property(e => e.ObjectId).HasColumnName("object_id");
        builder.Property(e => e.Kind).HasColumnName("kind").HasMaxLength(8);
        builder.Property(e => e.Revision).HasColumnName("revision");
        builder.Property(e => e.ClassId).HasColumnName("class_id");
        builder.Property(e => e.At).HasColumnName("at");
        builder.Property(e => e.FirstSeen).HasColumnName("first_seen");
        builder.Property(e => e.LastSeen).HasColumnName("last_seen");
        builder.Property(e => e.BestScore).HasColumnName("best_score");
        builder.Property(e => e.ZonesJson).HasColumnName("zones").HasColumnType("jsonb");
        builder.Property(e => e.LinesJson).HasColumnName("lines").HasColumnType("jsonb");
        builder.Property(e => e.BestCropJpeg).HasColumnName("best_crop_jpeg");
        builder.Property(e => e.BoxX1).HasColumnName("box_x1");
        builder.Property(e => e.BoxY1).HasColumnName("box_y1");
        builder.Property(e => e.BoxX2).HasColumnName("box_x2");
        builder.Property(e => e.BoxY2).HasColumnName("box_y2");
        builder.Property(e => e.FrameWidth).HasColumnName("frame_width");
        builder.Property(e => e.FrameHeight).HasColumnName("frame_height");
        builder.Property(e => e.ModelVersion).HasColumnName("model_version").HasMaxLength(128);
        builder.Property(e => e.ModelSha256).HasColumnName("model_sha256").HasMaxLength(64);
        builder.Property(e => e.Recovered).HasColumnName("recovered");
        builder.Property(e => e.ReceivedAt).HasColumnName("received_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(e => e.DeviceId);

        // An object's events (its story, latest revision last); analytics by time.
        builder.HasIndex(e => new { e.DeviceId, e.ObjectId, e.Revision }).HasDatabaseName("ix_object_events_device_object_revision");
        builder.HasIndex(e => e.At).HasDatabaseName("ix_object_events_at");
    }
}
