using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class ModelVersionRecordConfiguration : IEntityTypeConfiguration<ModelVersionRecord>
{
    public void Configure(EntityTypeBuilder<ModelVersionRecord> builder)
    {
        builder.ToTable("models", t => t.HasCheckConstraint("ck_models_format", "format IN ('int8', 'fp32')"));
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(m => m.Name).HasColumnName("name").HasMaxLength(128);
        builder.Property(m => m.Version).HasColumnName("version").HasMaxLength(128);
        builder.Property(m => m.Sha256).HasColumnName("sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(m => m.SizeBytes).HasColumnName("size_bytes");
        builder.Property(m => m.Format).HasColumnName("format").HasMaxLength(8);
        builder.Property(m => m.ManifestJson).HasColumnName("manifest").HasColumnType("jsonb");
        builder.Property(m => m.CreatedAt).HasColumnName("created_at").HasDefaultValueSql("now()");
        builder.Property(m => m.Signature).HasColumnName("signature");
        builder.HasIndex(m => new { m.Name, m.Version }).IsUnique().HasDatabaseName("ux_models_name_version");
    }
}

internal sealed class RolloutRecordConfiguration : IEntityTypeConfiguration<RolloutRecord>
{
    public void Configure(EntityTypeBuilder<RolloutRecord> builder)
    {
        builder.ToTable("rollouts", t => t.HasCheckConstraint("ck_rollouts_percent", "percent BETWEEN 0 AND 100"));
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(r => r.ModelVersionId).HasColumnName("model_version_id");
        builder.Property(r => r.Cohort).HasColumnName("cohort").HasMaxLength(64);
        builder.Property(r => r.Percent).HasColumnName("percent");
        builder.Property(r => r.State).HasColumnName("state").HasMaxLength(16);
        builder.Property(r => r.CreatedAt).HasColumnName("created_at").HasDefaultValueSql("now()");
        builder.Property(r => r.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql("now()");
        builder.Property(r => r.StartedAt).HasColumnName("started_at");
        builder.Property(r => r.CompletedAt).HasColumnName("completed_at");
        builder.HasOne<ModelVersionRecord>().WithMany().HasForeignKey(r => r.ModelVersionId).OnDelete(DeleteBehavior.Restrict);
        builder.HasIndex(r => r.State).HasDatabaseName("ix_rollouts_state");
    }
}
