using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data;

/// <summary>The fleet's schema. EF Core owns the DDL (migrations); hot writes go through <see cref="Ingest.FrameBatchWriter"/>.</summary>
public sealed class FleetDbContext(DbContextOptions<FleetDbContext> options) : DbContext(options)
{
    public DbSet<DeviceRecord> Devices => Set<DeviceRecord>();

    public DbSet<FrameRecord> Frames => Set<FrameRecord>();

    public DbSet<DetectionRecord> Detections => Set<DetectionRecord>();

    public DbSet<DetectionHourlyRecord> DetectionsHourly => Set<DetectionHourlyRecord>();

    public DbSet<ModelVariantRecord> Models => Set<ModelVariantRecord>();

    public DbSet<ModelJobRecord> ModelJobs => Set<ModelJobRecord>();

    public DbSet<ModelAssignmentRecord> ModelAssignments => Set<ModelAssignmentRecord>();

    public DbSet<ModelSelectionRecord> ModelSelections => Set<ModelSelectionRecord>();

    public DbSet<ModelEventRecord> ModelEvents => Set<ModelEventRecord>();

    public DbSet<ModelBenchmarkRecord> ModelBenchmarks => Set<ModelBenchmarkRecord>();

    public DbSet<RolloutRecord> Rollouts => Set<RolloutRecord>();

    public DbSet<RolloutEventRecord> RolloutEvents => Set<RolloutEventRecord>();

    public DbSet<HardFrameRecord> HardFrames => Set<HardFrameRecord>();

    public DbSet<VerificationRecord> Verifications => Set<VerificationRecord>();

    public DbSet<TelemetryRecord> Telemetry => Set<TelemetryRecord>();

    public DbSet<DeliveryDropRecord> DeliveryDrops => Set<DeliveryDropRecord>();

    public DbSet<ObjectEventRecord> ObjectEvents => Set<ObjectEventRecord>();
    public DbSet<ShadowWindowRecord> ShadowWindows => Set<ShadowWindowRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(FleetDbContext).Assembly);

    public static FleetDbContext Create(string connectionString) =>
        new(new DbContextOptionsBuilder<FleetDbContext>().UseNpgsql(connectionString).Options);
}

/// <summary>Lets `dotnet ef migrations add` build the model without a running host or database.</summary>
internal sealed class FleetDbContextDesignTimeFactory : IDesignTimeDbContextFactory<FleetDbContext>
{
    public FleetDbContext CreateDbContext(string[] args) =>
        FleetDbContext.Create("Host=127.0.0.1;Port=55432;Username=postgres;Database=yolofleet");
}
