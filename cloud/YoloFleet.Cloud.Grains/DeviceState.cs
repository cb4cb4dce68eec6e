using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Grains;

/// <summary>
/// The device grain's durable state: hot per-device facts only (last seen, models, health, counters, sequence
/// accounting). Registration and history live in PostgreSQL.
/// </summary>
[GenerateSerializer]
public sealed class DeviceState
{
    [Id(0)]
    public DateTimeOffset? LastSeenAt { get; set; }

    [Id(1)]
    public long Frames { get; set; }

    [Id(2)]
    public long Detections { get; set; }

    [Id(3)]
    public string? ModelVersion { get; set; }

    [Id(4)]
    public string? CandidateModelVersion { get; set; }

    [Id(5)]
    public DeviceHealth? Health { get; set; }

    [Id(6)]
    public SequenceTrackerState Sequences { get; set; } = new();

    /// <summary>Upstream messages of every kind recorded.</summary>
    [Id(7)]
    public long Messages { get; set; }

    /// <summary>
    /// When the batch that set <see cref="ModelVersion"/> arrived: the newest frames name the model, whatever other kinds of
    /// message (telemetry, acknowledgements) arrived after them.
    /// </summary>
    [Id(8)]
    public DateTimeOffset? ModelVersionSeenAt { get; set; }

    /// <summary>The model twin: desired against reported model (docs/registry.md). Id 20 keeps clear of the small ids other state takes.</summary>
    [Id(20)]
    public ModelTwinState ModelTwin { get; set; } = new();
}
