using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.EntityConfigurations;

internal sealed class ShadowWindowRecordConfiguration : IEntityTypeConfiguration<ShadowWindowRecord>
{
    public void Configure(EntityTypeBuilder<ShadowWindowRecord> builder)
    {
        builder.ToTable("shadow_windows", t => t.HasCheckConstraint(
            "ck_shadow_windows_frames", "shadowed_frames + skipped_for_budget <= frames AND throttled_frames <= shadowed_frames"));
        builder.HasKey(w => new { w.DeviceId, w.Sequence });
        builder.Property(w => w.DeviceId).HasColumnName("device_id").HasMaxLength(64);
        builder.Property(w => w.Sequence).HasColumnName("sequence");
        builder.Property(w => w.ActiveSha256).HasColumnName("active_sha256").HasMaxLength(64);
        builder.Property(w => w.CandidateSha256).HasColumnName("candidate_sha256").HasMaxLength(64);
        builder.Property(w => w.WindowStart).HasColumnName("window_start");
        builder.Property(w => w.WindowEnd).HasColumnName("window_end");
        builder.Property(w => w.Frames).HasColumnName("frames");
        builder.Property(w => w.ShadowedFrames).HasColumnName("shadowed_frames");
        builder.Property(w => w.SkippedForBudget).HasColumnName("skipped_for_budget");
        builder.Property(w => w.Matched).HasColumnName("matched");
        builder.Property(w => w.OnlyActive).HasColumnName("only_active");
        builder.Property(w => w.OnlyCandidate).HasColumnName("only_candidate");
        builder.Property(w => w.ActiveP50Ms).HasColumnName("active_p50_ms");
        builder.Property(w => w.ActiveP95Ms).HasColumnName("active_p95_ms");
        builder.Property(w => w.CandidateP50Ms).HasColumnName("candidate_p50_ms");
        builder.Property(w => w.CandidateP95Ms).HasColumnName("candidate_p95_ms");
        builder.Property(w => w.ThrottledFrames).HasColumnName("throttled_frames");
        builder.Property(w => w.ShadowCpuShare).HasColumnName("shadow_cpu_share");
        builder.Property(w => w.ReceivedAt).HasColumnName("received_at");
        builder.HasOne<DeviceRecord>().WithMany().HasForeignKey(w => w.DeviceId);

        // A rollout's shadow gate: a candidate's windows over a stage's period.
        builder.HasIndex(w => new { w.CandidateSha256, w.WindowEnd }).HasDatabaseName("ix_shadow_windows_candidate_end");
    }
}
