using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class DetectionHourlyRecordConfiguration : IEntityTypeConfiguration<DetectionHourlyRecord>
{
    public void Configure(EntityTypeBuilder<DetectionHourlyRecord> builder)
    {
        builder.ToTable("detections_hourly");

        // The upsert's conflict target, and the hour range the analytics read (hour leads).
        builder.HasKey(r => new { r.Hour, r.DeviceId, r.ClassId });
        builder.Property(r => r.Hour).HasColumnName("hour");
        builder.Property(r => r.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(r => r.ClassId).HasColumnName("class_id");
        builder.Property(r => r.Boxes).HasColumnName("boxes");
    }
}
