using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class DeliveryDropRecordConfiguration : IEntityTypeConfiguration<DeliveryDropRecord>
{
    public void Configure(EntityTypeBuilder<DeliveryDropRecord> builder)
    {
        builder.ToTable("delivery_drops", t => t.HasCheckConstraint("ck_delivery_drops_range", "first >= 1 AND first <= last"));
        builder.HasKey(d => new { d.DeviceId, d.ReportSequence, d.First });
        builder.Property(d => d.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(d => d.ReportSequence).HasColumnName("report_sequence");
        builder.Property(d => d.First).HasColumnName("first");
        builder.Property(d => d.Last).HasColumnName("last");
        builder.Property(d => d.Reason).HasColumnName("reason").HasMaxLength(32);
        builder.Property(d => d.Messages).HasColumnName("messages");
        builder.Property(d => d.ReportedAt).HasColumnName("reported_at");
        builder.Property(d => d.ReceivedAt).HasColumnName("received_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(d => d.DeviceId);

        // Which drops cover a number: a device's ranges by their last number (gap checks ask "last >= n AND first <= m").
        builder.HasIndex(d => new { d.DeviceId, d.Last }).HasDatabaseName("ix_delivery_drops_device_last");
    }
}
