using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class RolloutRecordConfiguration : IEntityTypeConfiguration<RolloutRecord>
{
    public void Configure(EntityTypeBuilder<RolloutRecord> builder)
    {
        builder.ToTable("rollouts", t =>
        {
            t.HasCheckConstraint("ck_rollouts_state", "state IN ('running', 'paused', 'completed', 'rolled-back', 'aborted', 'stopped')");
            t.HasCheckConstraint("ck_rollouts_target_kind", "target_kind IN ('fleet', 'group', 'devices')");
        });
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Id).HasColumnName("id").HasMaxLength(64);
        builder.Property(r => r.ModelName).HasColumnName("model_name").HasMaxLength(64);
        builder.Property(r => r.CandidateVersion).HasColumnName("candidate_version");
        builder.Property(r => r.BaselineVersion).HasColumnName("baseline_version");
        builder.Property(r => r.TargetKind).HasColumnName("target_kind").HasMaxLength(16);
        builder.Property(r => r.TargetGroup).HasColumnName("target_group").HasMaxLength(64);
        builder.Property(r => r.TargetDevices).HasColumnName("target_devices");
        builder.Property(r => r.StagesJson).HasColumnName("stages").HasColumnType("jsonb");
        builder.Property(r => r.GatesJson).HasColumnName("gates").HasColumnType("jsonb");
        builder.Property(r => r.State).HasColumnName("state").HasMaxLength(16);
        builder.Property(r => r.StageIndex).HasColumnName("stage_index");
        builder.Property(r => r.StageStartedAt).HasColumnName("stage_started_at");
        builder.Property(r => r.PreviousModelsJson).HasColumnName("previous_models").HasColumnType("jsonb");
        builder.Property(r => r.AssignmentIds).HasColumnName("assignment_ids");
        builder.Property(r => r.LastGateJson).HasColumnName("last_gate").HasColumnType("jsonb");
        builder.Property(r => r.Reason).HasColumnName("reason").HasMaxLength(1024).HasDefaultValue("");
        builder.Property(r => r.CreatedBy).HasColumnName("created_by").HasMaxLength(128);
        builder.Property(r => r.CreatedAt).HasColumnName("created_at");
        builder.Property(r => r.UpdatedAt).HasColumnName("updated_at");
        builder.Property(r => r.FinishedAt).HasColumnName("finished_at");
        builder.HasIndex(r => r.State).HasDatabaseName("ix_rollouts_state");
    }
}

internal sealed class RolloutEventRecordConfiguration : IEntityTypeConfiguration<RolloutEventRecord>
{
    public void Configure(EntityTypeBuilder<RolloutEventRecord> builder)
    {
        builder.ToTable("rollout_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).HasColumnName("id").UseIdentityAlwaysColumn();
        builder.Property(e => e.RolloutId).HasColumnName("rollout_id").HasMaxLength(64);
        builder.Property(e => e.At).HasColumnName("at");
        builder.Property(e => e.Actor).HasColumnName("actor").HasMaxLength(128);
        builder.Property(e => e.Kind).HasColumnName("kind").HasMaxLength(32);
        builder.Property(e => e.FromState).HasColumnName("from_state").HasMaxLength(16);
        builder.Property(e => e.ToState).HasColumnName("to_state").HasMaxLength(16);
        builder.Property(e => e.StageIndex).HasColumnName("stage_index");
        builder.Property(e => e.Reason).HasColumnName("reason").HasMaxLength(2048);
        builder.Property(e => e.FiguresJson).HasColumnName("figures").HasColumnType("jsonb");
        builder.HasOne<RolloutRecord>().WithMany().HasForeignKey(e => e.RolloutId).OnDelete(DeleteBehavior.Cascade);
        builder.HasIndex(e => new { e.RolloutId, e.Id }).HasDatabaseName("ix_rollout_events_rollout");
    }
}
