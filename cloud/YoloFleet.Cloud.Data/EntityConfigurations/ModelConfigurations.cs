using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class ModelVariantRecordConfiguration : IEntityTypeConfiguration<ModelVariantRecord>
{
    public void Configure(EntityTypeBuilder<ModelVariantRecord> builder)
    {
        builder.ToTable("models", t => t.HasCheckConstraint("ck_models_format", "format IN ('int8', 'fp32')"));
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(m => m.Name).HasColumnName("name").HasMaxLength(128);
        builder.Property(m => m.Version).HasColumnName("version");
        builder.Property(m => m.Sha256).HasColumnName("sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(m => m.SizeBytes).HasColumnName("size_bytes");
        builder.Property(m => m.Format).HasColumnName("format").HasMaxLength(8);
        builder.Property(m => m.ManifestJson).HasColumnName("manifest").HasColumnType("jsonb");
        builder.Property(m => m.SigningKeyId).HasColumnName("signing_key_id").HasMaxLength(32);
        builder.Property(m => m.ParentId).HasColumnName("parent_id");
        builder.Property(m => m.JobId).HasColumnName("job_id");
        builder.Property(m => m.ReportJson).HasColumnName("report").HasColumnType("jsonb");
        builder.Property(m => m.CreatedAt).HasColumnName("created_at").HasDefaultValueSql("now()");
        builder.HasOne<ModelVariantRecord>().WithMany().HasForeignKey(m => m.ParentId).OnDelete(DeleteBehavior.Restrict);
        builder.HasIndex(m => new { m.Name, m.Version, m.Format }).IsUnique().HasDatabaseName("ux_models_name_version_format");
        builder.HasIndex(m => m.Sha256).HasDatabaseName("ix_models_sha256");
    }
}

internal sealed class ModelJobRecordConfiguration : IEntityTypeConfiguration<ModelJobRecord>
{
    public void Configure(EntityTypeBuilder<ModelJobRecord> builder)
    {
        builder.ToTable("model_jobs", t =>
        {
            t.HasCheckConstraint("ck_model_jobs_state", "state IN ('queued', 'running', 'succeeded', 'failed')");
            t.HasCheckConstraint("ck_model_jobs_percent", "percent BETWEEN 0 AND 100");
        });
        builder.HasKey(j => j.Id);
        builder.Property(j => j.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(j => j.Kind).HasColumnName("kind").HasMaxLength(16);
        builder.Property(j => j.ModelName).HasColumnName("model_name").HasMaxLength(128);
        builder.Property(j => j.SourceVersion).HasColumnName("source_version");
        builder.Property(j => j.InputsKey).HasColumnName("inputs_key").HasMaxLength(64).IsFixedLength();
        builder.Property(j => j.State).HasColumnName("state").HasMaxLength(16);
        builder.Property(j => j.Percent).HasColumnName("percent");
        builder.Property(j => j.Message).HasColumnName("message").HasMaxLength(512);
        builder.Property(j => j.Error).HasColumnName("error");
        builder.Property(j => j.InputsJson).HasColumnName("inputs").HasColumnType("jsonb");
        builder.Property(j => j.ClaimedBy).HasColumnName("claimed_by").HasMaxLength(128);
        builder.Property(j => j.ResultVariantId).HasColumnName("result_variant_id");
        builder.Property(j => j.CreatedAt).HasColumnName("created_at").HasDefaultValueSql("now()");
        builder.Property(j => j.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql("now()");
        builder.Property(j => j.StartedAt).HasColumnName("started_at");
        builder.Property(j => j.FinishedAt).HasColumnName("finished_at");
        builder.HasOne<ModelVariantRecord>().WithMany().HasForeignKey(j => j.ResultVariantId).OnDelete(DeleteBehavior.Restrict);
        builder.HasIndex(j => j.InputsKey).IsUnique().HasDatabaseName("ux_model_jobs_inputs_key");
        builder.HasIndex(j => j.State).HasDatabaseName("ix_model_jobs_state");
    }
}

internal sealed class ModelAssignmentRecordConfiguration : IEntityTypeConfiguration<ModelAssignmentRecord>
{
    public void Configure(EntityTypeBuilder<ModelAssignmentRecord> builder)
    {
        builder.ToTable("model_assignments", t => t.HasCheckConstraint("ck_model_assignments_slot", "slot IN ('active', 'shadow')"));
        builder.HasKey(a => new { a.AssignmentId, a.DeviceId });
        builder.Property(a => a.AssignmentId).HasColumnName("assignment_id").HasMaxLength(64);
        builder.Property(a => a.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(a => a.ModelName).HasColumnName("model_name").HasMaxLength(128);
        builder.Property(a => a.Version).HasColumnName("version");
        builder.Property(a => a.Slot).HasColumnName("slot").HasMaxLength(8);
        builder.Property(a => a.Fp32VariantId).HasColumnName("fp32_variant_id");
        builder.Property(a => a.Int8VariantId).HasColumnName("int8_variant_id");
        builder.Property(a => a.SelectedSha256).HasColumnName("selected_sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(a => a.MaxLatencyMs).HasColumnName("max_latency_ms");
        builder.Property(a => a.CreatedAt).HasColumnName("created_at").HasDefaultValueSql("now()");
        builder.Property(a => a.SelectedAt).HasColumnName("selected_at");
        builder.Property(a => a.Revision).HasColumnName("revision").HasDefaultValue(1);
        builder.Property(a => a.PublishedRevision).HasColumnName("published_revision");
        builder.Property(a => a.PublishedAt).HasColumnName("published_at");
        builder.Property(a => a.TokenExpiresAt).HasColumnName("token_expires_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(a => a.DeviceId);
        builder.HasOne<ModelVariantRecord>().WithMany().HasForeignKey(a => a.Fp32VariantId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<ModelVariantRecord>().WithMany().HasForeignKey(a => a.Int8VariantId).OnDelete(DeleteBehavior.Restrict);
        builder.HasIndex(a => new { a.DeviceId, a.CreatedAt }).HasDatabaseName("ix_model_assignments_device_created");
    }
}

internal sealed class ModelSelectionRecordConfiguration : IEntityTypeConfiguration<ModelSelectionRecord>
{
    public void Configure(EntityTypeBuilder<ModelSelectionRecord> builder)
    {
        builder.ToTable("model_selections", t => t.HasCheckConstraint("ck_model_selections_precision", "chosen_precision IN ('int8', 'fp32')"));
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(s => s.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(s => s.AssignmentId).HasColumnName("assignment_id").HasMaxLength(64);
        builder.Property(s => s.Fp32Sha256).HasColumnName("fp32_sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(s => s.Int8Sha256).HasColumnName("int8_sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(s => s.Fp32P50Ms).HasColumnName("fp32_p50_ms");
        builder.Property(s => s.Int8P50Ms).HasColumnName("int8_p50_ms");
        builder.Property(s => s.ChosenSha256).HasColumnName("chosen_sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(s => s.ChosenPrecision).HasColumnName("chosen_precision").HasMaxLength(8);
        builder.Property(s => s.Basis).HasColumnName("basis").HasMaxLength(16);
        builder.Property(s => s.Reason).HasColumnName("reason").HasMaxLength(512);
        builder.Property(s => s.CpuFeatures).HasColumnName("cpu_features").HasMaxLength(256);
        builder.Property(s => s.DecidedAt).HasColumnName("decided_at").HasDefaultValueSql("now()");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(s => s.DeviceId);
        builder.HasIndex(s => new { s.DeviceId, s.DecidedAt }).HasDatabaseName("ix_model_selections_device_decided");
    }
}

internal sealed class ModelEventRecordConfiguration : IEntityTypeConfiguration<ModelEventRecord>
{
    public void Configure(EntityTypeBuilder<ModelEventRecord> builder)
    {
        builder.ToTable("model_events");
        builder.HasKey(e => new { e.DeviceId, e.Sequence });
        builder.Property(e => e.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(e => e.Sequence).HasColumnName("sequence");
        builder.Property(e => e.AssignmentId).HasColumnName("assignment_id").HasMaxLength(64);
        builder.Property(e => e.Stage).HasColumnName("stage").HasMaxLength(16);
        builder.Property(e => e.Accepted).HasColumnName("accepted");
        builder.Property(e => e.ReasonCode).HasColumnName("reason_code").HasMaxLength(32);
        builder.Property(e => e.Error).HasColumnName("error").HasMaxLength(1024);
        builder.Property(e => e.Sha256).HasColumnName("sha256").HasMaxLength(64);
        builder.Property(e => e.ActiveSha256).HasColumnName("active_sha256").HasMaxLength(64);
        builder.Property(e => e.CandidateSha256).HasColumnName("candidate_sha256").HasMaxLength(64);
        builder.Property(e => e.CpuFeatures).HasColumnName("cpu_features").HasMaxLength(256);
        builder.Property(e => e.SentAt).HasColumnName("sent_at");
        builder.Property(e => e.ReceivedAt).HasColumnName("received_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(e => e.DeviceId);
        builder.HasIndex(e => new { e.AssignmentId, e.DeviceId }).HasDatabaseName("ix_model_events_assignment_device");
        builder.HasIndex(e => e.ReceivedAt).HasDatabaseName("ix_model_events_received_at");
    }
}

internal sealed class ModelBenchmarkRecordConfiguration : IEntityTypeConfiguration<ModelBenchmarkRecord>
{
    public void Configure(EntityTypeBuilder<ModelBenchmarkRecord> builder)
    {
        builder.ToTable("model_benchmarks");
        builder.HasKey(b => new { b.DeviceId, b.Sha256 });
        builder.Property(b => b.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(b => b.Sha256).HasColumnName("sha256").HasMaxLength(64).IsFixedLength();
        builder.Property(b => b.Precision).HasColumnName("precision").HasMaxLength(8);
        builder.Property(b => b.P50Ms).HasColumnName("p50_ms");
        builder.Property(b => b.P95Ms).HasColumnName("p95_ms");
        builder.Property(b => b.Runs).HasColumnName("runs");
        builder.Property(b => b.Throttled).HasColumnName("throttled");
        builder.Property(b => b.CpuFeatures).HasColumnName("cpu_features").HasMaxLength(256);
        builder.Property(b => b.MeasuredAt).HasColumnName("measured_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(b => b.DeviceId);
    }
}
