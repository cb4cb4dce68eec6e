using System.Globalization;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>POST /api/assignments: a version of a model for devices, listed or as a group.</summary>
/// <param name="Version">Null: the newest version.</param>
/// <param name="Slot">"active" (default) or "shadow".</param>
/// <param name="MaxLatencyMs">The health check's latency bound on the device (0 or null: the device's default).</param>
public sealed record AssignRequest(string Model, int? Version, IReadOnlyList<string>? Devices, string? Group, string? Slot, float? MaxLatencyMs);

/// <summary>An assignment as the API shows it.</summary>
public sealed record AssignmentView(
    string AssignmentId, string Model, int Version, string Slot, IReadOnlyList<AssignmentVariantView> Variants, IReadOnlyList<AssignedDeviceView> Devices);

public sealed record AssignmentVariantView(string Precision, string Sha256, long SizeBytes);

/// <summary>One device of an assignment: the variant chosen for it (null while it benchmarks) and why, and whether the broker has its message.</summary>
public sealed record AssignedDeviceView(
    string DeviceId, string? SelectedSha256, string? SelectedPrecision, string? Reason, bool Published, DateTimeOffset? PublishedAt, IReadOnlyList<SelectionView> Decisions);

/// <summary>
/// Assigns model versions to devices and chooses each device's variant. An assignment names every variant of the version
/// (FP32 and, once quantized, INT8); each device gets its own retained ModelAssigned with download URLs that carry its
/// token. Where the cloud already holds that device's latency for both hashes it chooses at once; otherwise the device
/// downloads and benchmarks both and reports back ("benchmarked"), and the cloud chooses then (<see cref="VariantChooser"/>),
/// records why, and republishes with the choice. The device grain's twin holds the desired state throughout.
/// </summary>
public sealed partial class AssignmentService(
    ModelStore models,
    AssignmentStore assignments,
    ModelEventStore events,
    DeviceDirectory devices,
    AssignmentPublisher publisher,
    IGrainFactory grains,
    ModelRegistryOptions options,
    TimeProvider time,
    ILogger<AssignmentService> logger)
{
    /// <exception cref="ModelRegistryException">Unknown model, version, device or group; a bad slot; no device at all.</exception>
    public async Task<AssignmentView> AssignAsync(AssignRequest request, CancellationToken cancellationToken = default)
    {
        var slot = request.Slot ?? ModelAssignmentStages.ActiveSlot;
        if (!ModelAssignmentStages.IsSlot(slot))
        {
            throw Invalid($"slot '{slot}' is not '{ModelAssignmentStages.ActiveSlot}' or '{ModelAssignmentStages.ShadowSlot}'.");
        }

        if (request.MaxLatencyMs is { } bound && !(float.IsFinite(bound) && bound >= 0))
        {
            throw Invalid($"maxLatencyMs {bound} is not a non-negative number of milliseconds.");
        }

        if (!ModelRegistry.IsValidName(request.Model))
        {
            throw Invalid($"model '{request.Model}' is not a model name.");
        }

        var version = request.Version ?? await models.LatestVersionAsync(request.Model, cancellationToken)
            ?? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"No model named '{request.Model}' is registered.");
        var fp32 = await models.FindAsync(request.Model, version, ModelStore.Fp32, cancellationToken)
            ?? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"Model {request.Model} has no version {version}.");
        var int8 = await models.FindAsync(request.Model, version, ModelStore.Int8, cancellationToken);
        var deviceIds = await ResolveDevicesAsync(request, cancellationToken);

        var assignmentId = "asg-" + Guid.NewGuid().ToString("N");
        var now = time.GetUtcNow();
        var rows = new List<ModelAssignmentRow>(deviceIds.Count);
        var selections = new List<SelectionToRecord>();
        var variantShas = int8 is null ? new[] { fp32.Sha256 } : [fp32.Sha256, int8.Sha256];
        foreach (var deviceId in deviceIds)
        {
            VariantDecision? decision = null;
            var basis = AssignmentStore.SingleVariant;
            var cpuFeatures = "";
            if (int8 is null)
            {
                decision = VariantChooser.Choose(fp32.Sha256, null, [], options.Int8MinSpeedup);
            }
            else
            {
                var (figures, features) = await events.BenchmarksAsync(deviceId, variantShas, cancellationToken);
                if (figures.Any(f => f.Sha256 == fp32.Sha256) && figures.Any(f => f.Sha256 == int8.Sha256))
                {
                    decision = VariantChooser.Choose(fp32.Sha256, int8.Sha256, figures, options.Int8MinSpeedup);
                    decision = decision with { Reason = "from this device's earlier figures for these files: " + decision.Reason };
                    basis = AssignmentStore.KnownFigures;
                    cpuFeatures = features;
                }
            }

            rows.Add(new ModelAssignmentRow(
                assignmentId, deviceId, request.Model, version, slot, fp32.Id, int8?.Id, decision?.ChosenSha256, request.MaxLatencyMs ?? 0, now,
                decision is null ? null : now, 1, null, null, now + options.DownloadTokenLifetime));
            if (decision is not null)
            {
                selections.Add(new SelectionToRecord(deviceId, assignmentId, fp32.Sha256, int8?.Sha256, decision, basis, cpuFeatures));
            }
        }

        // Refuse a message the protocol would not carry before anything is stored.
        await publisher.Messages.BuildAsync(rows[0], cancellationToken);
        await assignments.InsertAsync(rows, selections, cancellationToken);
        LogAssigned(assignmentId, request.Model, version, slot, rows.Count, selections.Count);

        // Published here so that the answer can say so; once the broker refuses one, the rest are left to the
        // publisher's retries rather than each waiting for the broker in turn.
        var brokerTakes = true;
        foreach (var row in rows)
        {
            await SetDesiredAsync(row, variantShas);
            brokerTakes = brokerTakes && await publisher.TryPublishAsync(row, cancellationToken);
        }

        if (!brokerTakes)
        {
            publisher.Wake();
        }

        return await GetAsync(assignmentId, cancellationToken);
    }

    /// <exception cref="ModelRegistryException">No such assignment.</exception>
    public async Task<AssignmentView> GetAsync(string assignmentId, CancellationToken cancellationToken = default)
    {
        var rows = await assignments.GetAsync(assignmentId, cancellationToken);
        if (rows.Count == 0)
        {
            throw new ModelRegistryException(RegistryErrorKind.NotFound, $"No assignment {assignmentId}.");
        }

        var first = rows[0];
        var fp32 = await models.FindByIdAsync(first.Fp32VariantId, cancellationToken);
        var int8 = first.Int8VariantId is { } int8Id ? await models.FindByIdAsync(int8Id, cancellationToken) : null;
        var variants = new[] { fp32, int8 }.OfType<ModelVariantRow>().Select(v => new AssignmentVariantView(v.Format, v.Sha256, v.SizeBytes)).ToList();
        var decisions = await assignments.SelectionsAsync(assignmentId, null, cancellationToken);
        return new AssignmentView(first.AssignmentId, first.ModelName, first.Version, first.Slot, variants, [.. rows.Select(row =>
        {
            var mine = decisions.Where(decision => decision.DeviceId == row.DeviceId).ToList();
            return new AssignedDeviceView(
                row.DeviceId,
                row.SelectedSha256,
                variants.FirstOrDefault(variant => variant.Sha256 == row.SelectedSha256)?.Precision,
                mine.LastOrDefault()?.Reason,
                row.PublishedRevision == row.Revision,
                row.PublishedAt,
                mine);
        })]);
    }

    /// <summary>
    /// A device's "benchmarked" acknowledgement: when it is about the device's current assignment and no variant is
    /// chosen yet, choose, record why, and republish with the choice. Anything else (an old assignment, a choice already
    /// made, an unknown assignment) changes nothing.
    /// </summary>
    public async Task OnBenchmarkedAsync(string deviceId, string assignmentId, IReadOnlyList<BenchmarkFigure> figures, string cpuFeatures, CancellationToken cancellationToken = default)
    {
        var latest = await assignments.LatestForDeviceAsync(deviceId, cancellationToken);
        if (latest is null || latest.AssignmentId != assignmentId)
        {
            LogStaleBenchmarks(deviceId, assignmentId, latest?.AssignmentId ?? "none");
            return;
        }

        if (latest.SelectedSha256 is not null)
        {
            return;
        }

        var fp32 = await models.FindByIdAsync(latest.Fp32VariantId, cancellationToken)
            ?? throw new InvalidOperationException($"Variant {latest.Fp32VariantId} of assignment {assignmentId} is gone.");
        var int8 = latest.Int8VariantId is { } int8Id ? await models.FindByIdAsync(int8Id, cancellationToken) : null;
        var decision = VariantChooser.Choose(fp32.Sha256, int8?.Sha256, figures, options.Int8MinSpeedup);
        var now = time.GetUtcNow();
        if (!await assignments.SelectAsync(
            new SelectionToRecord(deviceId, assignmentId, fp32.Sha256, int8?.Sha256, decision, AssignmentStore.Benchmarked, cpuFeatures), now, cancellationToken))
        {
            return;
        }

        LogChosen(deviceId, assignmentId, decision.ChosenPrecision, decision.Reason);
        var chosen = latest with { SelectedSha256 = decision.ChosenSha256, SelectedAt = now };
        await SetDesiredAsync(chosen, int8 is null ? [fp32.Sha256] : [fp32.Sha256, int8.Sha256]);
        publisher.Wake();
    }

    private async Task<IReadOnlyList<string>> ResolveDevicesAsync(AssignRequest request, CancellationToken cancellationToken)
    {
        var listed = request.Devices ?? [];
        if (listed.Count > 0 && request.Group is { Length: > 0 })
        {
            throw Invalid("give devices or a group, not both.");
        }

        if (request.Group is { Length: > 0 } group)
        {
            if (!DeviceDirectory.IsValidGroup(group))
            {
                throw Invalid($"group '{group}' is not a group name.");
            }

            var members = await devices.ListActiveIdsInGroupAsync(group, cancellationToken);
            return members.Count > 0
                ? members
                : throw new ModelRegistryException(RegistryErrorKind.NotFound, $"Group '{group}' has no active devices (yolofleet devices add ID --group {group}).");
        }

        if (listed.Count == 0)
        {
            throw Invalid("name the devices (devices: [...]) or a group (group: \"...\").");
        }

        var ids = listed.Distinct(StringComparer.Ordinal).ToList();
        if (ids.FirstOrDefault(id => !DeviceIds.IsValid(id)) is { } bad)
        {
            throw Invalid($"'{bad}' is not a valid device id.");
        }

        var missing = new List<string>();
        foreach (var id in ids)
        {
            if (await devices.FindAsync(id, cancellationToken) is not { Status: DeviceStatus.Active })
            {
                missing.Add(id);
            }
        }

        return missing.Count == 0
            ? ids
            : throw new ModelRegistryException(RegistryErrorKind.NotFound,
                $"Not registered or not active: {string.Join(", ", missing)} (POST /api/devices or yolofleet devices add).");
    }

    private async Task SetDesiredAsync(ModelAssignmentRow row, string[] variantShas)
    {
        var desired = new DesiredModel(
            row.AssignmentId, row.ModelName + "@" + row.Version.ToString(CultureInfo.InvariantCulture), row.Slot, row.SelectedSha256 ?? "", variantShas, row.DesiredSince);
        try
        {
            await grains.GetGrain<IDeviceGrain>(row.DeviceId).SetDesiredModelAsync(desired);
        }
        catch (Exception ex)
        {
            // PostgreSQL holds the assignment; a grain that missed it shows a stale twin until the next change.
            LogGrainFailed(ex, row.DeviceId);
        }
    }

    private static ModelRegistryException Invalid(string message) => new(RegistryErrorKind.Invalid, "The assignment is invalid: " + message);

    [LoggerMessage(Level = LogLevel.Information, Message = "Assignment {AssignmentId}: {Model} version {Version} ({Slot}) to {Devices} device(s), {Chosen} chosen at once")]
    private partial void LogAssigned(string assignmentId, string model, int version, string slot, int devices, int chosen);

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {DeviceId}, assignment {AssignmentId}: chose {Precision}: {Reason}")]
    private partial void LogChosen(string deviceId, string assignmentId, string precision, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Device {DeviceId} benchmarked assignment {AssignmentId}, but its current assignment is {Current}; ignored")]
    private partial void LogStaleBenchmarks(string deviceId, string assignmentId, string current);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating the twin of device {DeviceId} failed")]
    private partial void LogGrainFailed(Exception ex, string deviceId);
}
