using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Registry.Assignments;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Rollout.Gates;
using YoloFleet.Cloud.Rollout.Planning;
using YoloFleet.Cloud.Rollout.Storage;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Rollout;

/// <summary>
/// Runs one staged rollout (docs/rollout.md): enters each stage by assigning the candidate to that stage's devices
/// through the registry's assignment path, evaluates the stage's gates on a timer, and moves on, completes, or sends
/// every device that got the candidate back to its previous model. Its state is a row in PostgreSQL, written with an
/// audit event at every transition, and reloaded on activation, so a silo restart resumes the rollout where it was.
/// </summary>
public sealed partial class RolloutGrain(
    RolloutStore store,
    RolloutMetrics metrics,
    AssignmentService assignments,
    AssignmentStore assignmentStore,
    ModelStore models,
    DeviceDirectory devices,
    RolloutOptions options,
    TimeProvider time,
    ILogger<RolloutGrain> logger) : Grain, IRolloutGrain
{
    public const string SystemActor = "system";

    private RolloutRow? _row;
    private string[] _candidateShas = [];
    private string[] _baselineShas = [];
    private IGrainTimer? _timer;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _row = await store.FindAsync(this.GetPrimaryKeyString(), cancellationToken);
        if (_row is not null)
        {
            await LoadVariantsAsync(cancellationToken);
            LogReloaded(_row.Id, _row.State, _row.StageIndex);
        }

        ArmTimer();
    }

    public async Task<RolloutReply> StartAsync(RolloutRequest request, string actor)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = this.GetPrimaryKeyString();
        if (_row is not null)
        {
            return RolloutReply.Refused(RolloutReply.Conflict, $"Rollout {id} already exists ({_row.State}).");
        }

        if (!ModelRegistry.IsValidName(request.Model))
        {
            return Invalid($"model '{request.Model}' is not a model name.");
        }

        var candidate = request.CandidateVersion ?? await models.LatestVersionAsync(request.Model);
        if (candidate is not { } candidateVersion || await models.FindAsync(request.Model, candidateVersion, ModelStore.Fp32) is null)
        {
            return RolloutReply.Refused(RolloutReply.NotFound, $"Model {request.Model} has no version {(candidate?.ToString(CultureInfo.InvariantCulture) ?? "at all")}.");
        }

        var baseline = request.BaselineVersion ?? (await models.ListAsync(request.Model, 10_000))
            .Where(v => v.Format == ModelStore.Fp32 && v.Version < candidateVersion).Select(v => (int?)v.Version).Max();
        if (baseline is not { } baselineVersion || await models.FindAsync(request.Model, baselineVersion, ModelStore.Fp32) is null)
        {
            return RolloutReply.Refused(RolloutReply.NotFound,
                $"Model {request.Model} has no baseline version {(baseline?.ToString(CultureInfo.InvariantCulture) ?? "below " + candidateVersion.ToString(CultureInfo.InvariantCulture))}; name one with baselineVersion.");
        }

        if (baselineVersion == candidateVersion)
        {
            return Invalid("the baseline and the candidate are the same version.");
        }

        var stages = request.Stages is { Length: > 0 } given ? given : RolloutPlan.DefaultStages;
        var gates = request.Gates ?? new RolloutGates();
        if (RolloutPlan.Validate(stages, gates) is { } problem)
        {
            return Invalid(problem);
        }

        var (targetKind, target, targetError) = await ResolveTargetAsync(request);
        if (targetError is not null)
        {
            return targetError;
        }

        var previous = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var device in target)
        {
            if (await assignmentStore.LatestForDeviceAsync(device) is { Slot: ModelAssignmentStages.ActiveSlot } latest)
            {
                previous[device] = ModelVersionText(latest.ModelName, latest.Version);
            }
        }

        var now = time.GetUtcNow();
        var row = new RolloutRow
        {
            Id = id,
            ModelName = request.Model,
            CandidateVersion = candidateVersion,
            BaselineVersion = baselineVersion,
            TargetKind = targetKind,
            TargetGroup = request.Group is { Length: > 0 } ? request.Group : null,
            TargetDevices = [.. target],
            Stages = stages,
            Gates = gates,
            State = RolloutStates.Running,
            StageIndex = 0,
            StageStartedAt = now,
            PreviousModels = previous,
            CreatedBy = actor,
            CreatedAt = now,
            UpdatedAt = now,
        };
        var started = new RolloutEventRow(now, actor, "started", "", RolloutStates.Running, 0, Invariant(
            $"{request.Model}@{candidateVersion} against @{baselineVersion} over {targetKind} ({target.Count} device(s)), stages {string.Join(" → ", stages.Select(s => s.Percent.ToString("0.##", CultureInfo.InvariantCulture) + " %"))}"), null);
        var (conflict, shared) = await store.InsertAsync(row, [started]);
        if (conflict is not null)
        {
            return RolloutReply.Refused(RolloutReply.Conflict,
                $"Device(s) {string.Join(", ", shared)} are already in active rollout {conflict}; a device takes one rollout at a time (abort or finish {conflict} first).");
        }

        _row = row;
        await LoadVariantsAsync(CancellationToken.None);
        LogStarted(id, request.Model, candidateVersion, baselineVersion, target.Count);
        await EnterStageAsync(0, actor, "the rollout started", null);
        ArmTimer();
        return await ReplyAsync();
    }

    public async Task<RolloutReply> GetAsync() => _row is null ? NotFound() : await ReplyAsync();

    public async Task<RolloutReply> PromoteAsync(string actor, string reason)
    {
        if (Refuse(RolloutTransitions.Promote) is { } refused)
        {
            return refused;
        }

        var row = _row!;
        var why = reason.Length > 0 ? reason : "promoted by hand";
        if (row.StageIndex == row.Stages.Length - 1)
        {
            await FinishAsync(RolloutStates.Completed, "completed", actor, why, Figures(row.LastGate));
        }
        else
        {
            await EnterStageAsync(row.StageIndex + 1, actor, why, Figures(row.LastGate));
        }

        return await ReplyAsync();
    }

    public async Task<RolloutReply> PauseAsync(string actor, string reason)
    {
        if (Refuse(RolloutTransitions.Pause) is { } refused)
        {
            return refused;
        }

        await TransitionAsync(RolloutStates.Paused, "paused", actor, reason.Length > 0 ? reason : "paused by hand");
        return await ReplyAsync();
    }

    public async Task<RolloutReply> ResumeAsync(string actor, string reason)
    {
        if (Refuse(RolloutTransitions.Resume) is { } refused)
        {
            return refused;
        }

        await TransitionAsync(RolloutStates.Running, "resumed", actor, reason.Length > 0 ? reason : "resumed by hand");
        return await ReplyAsync();
    }

    public async Task<RolloutReply> AbortAsync(string actor, string reason)
    {
        if (Refuse(RolloutTransitions.Abort) is { } refused)
        {
            return refused;
        }

        await RollBackAsync(RolloutStates.Aborted, "aborted", actor, reason.Length > 0 ? reason : "aborted by hand", Figures(_row!.LastGate));
        return await ReplyAsync();
    }

    public async Task EvaluateAsync()
    {
        if (_row is not { State: RolloutStates.Running } row)
        {
            return;
        }

        try
        {
            var report = StageGates.Decide(await GatherAsync(row), time.GetUtcNow());
            row.LastGate = report;
            switch (report.Verdict)
            {
                case StageGates.Pass when row.StageIndex == row.Stages.Length - 1:
                    await FinishAsync(RolloutStates.Completed, "completed", SystemActor, report.Reason, Figures(report));
                    break;
                case StageGates.Pass:
                    await EnterStageAsync(row.StageIndex + 1, SystemActor, report.Reason, Figures(report));
                    break;
                case StageGates.RollBack:
                    await RollBackAsync(RolloutStates.RolledBack, "rolled-back", SystemActor, report.Reason, Figures(report));
                    break;
                case StageGates.Stop:
                    await RollBackAsync(RolloutStates.Stopped, "stopped", SystemActor, report.Reason, Figures(report));
                    break;
                default:
                    row.UpdatedAt = report.At;
                    await store.SaveAsync(row, []);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A database or broker hiccup costs one evaluation; the next tick tries again from the persisted state.
            LogEvaluationFailed(ex, row.Id);
            _row = await store.FindAsync(row.Id) ?? row;
        }
    }

    private async Task<GateInputs> GatherAsync(RolloutRow row)
    {
        var stage = row.Stages[row.StageIndex];
        var stageDevices = StageDevices(row, row.StageIndex);
        var inStage = stageDevices.ToHashSet(StringComparer.Ordinal);
        var control = row.TargetDevices.Where(device => !inStage.Contains(device)).ToList();

        // A stage over the whole target has no devices left on the baseline: its control is the baseline's record over
        // the whole rollout.
        var controlSince = control.Count > 0 ? row.StageStartedAt : row.CreatedAt;
        if (control.Count == 0)
        {
            control = [.. row.TargetDevices];
        }

        var refusals = await metrics.RefusalsAsync(row.AssignmentIds);
        var tampered = await metrics.RefusalsForAsync(row.AssignmentIds, StageGates.TamperReasonCodes);
        var now = time.GetUtcNow();
        // A window is stamped with the device's clock: one that ends a moment past the silo's "now" still counts.
        var shadow = await metrics.ShadowAsync(_candidateShas, stageDevices, row.StageStartedAt, now.AddMinutes(1));
        return new GateInputs(
            stage,
            row.Gates,
            await metrics.AgreementAsync(_baselineShas, control, controlSince),
            await metrics.AgreementAsync(_candidateShas, stageDevices, row.StageStartedAt),
            await metrics.LatencyAsync(_baselineShas, control, controlSince),
            await metrics.LatencyAsync(_candidateShas, stageDevices, row.StageStartedAt),
            stageDevices.Count,
            [.. refusals.Where(r => inStage.Contains(r.DeviceId) && !StageGates.TamperReasonCodes.Contains(r.ReasonCode))],
            [.. tampered.Where(r => inStage.Contains(r.DeviceId))],
            now - row.StageStartedAt,
            shadow);
    }

    /// <summary>
    /// Assigns the candidate to the devices the stage adds (in shadow for a shadow stage; the first stage that switches
    /// devices takes all of its own, including those that shadowed it), then records the stage (with its assignment)
    /// and its event.
    /// </summary>
    private async Task EnterStageAsync(int index, string actor, string reason, string? figures)
    {
        var row = _row!;
        var shadow = row.Stages[index].Shadow;
        var before = index == 0 || row.Stages[row.StageIndex].Shadow != shadow ? [] : StageDevices(row, row.StageIndex).ToHashSet(StringComparer.Ordinal);
        var entering = StageDevices(row, index).Where(device => !before.Contains(device)).ToList();
        string? assignmentId = null;
        if (entering.Count > 0)
        {
            try
            {
                var slot = shadow ? ModelAssignmentStages.ShadowSlot : ModelAssignmentStages.ActiveSlot;
                var view = await assignments.AssignAsync(new AssignRequest(row.ModelName, row.CandidateVersion, entering, null, slot, null));
                assignmentId = view.AssignmentId;
            }
            catch (ModelRegistryException ex)
            {
                await RollBackAsync(RolloutStates.Stopped, "stopped", SystemActor, $"assigning the candidate to stage {index + 1} failed: {ex.Message}", figures);
                return;
            }
        }

        var now = time.GetUtcNow();
        var from = row.StageIndex;
        row.StageIndex = index;
        row.StageStartedAt = now;
        row.UpdatedAt = now;
        row.LastGate = null;
        if (assignmentId is not null)
        {
            row.AssignmentIds.Add(assignmentId);
        }

        var percent = row.Stages[index].Percent;
        var entered = new RolloutEventRow(now, actor, "stage-entered", row.State, row.State, index, Invariant(
            $"stage {index + 1} of {row.Stages.Length} ({percent:0.##} %{(shadow ? ", shadow" : "")}): {entering.Count} more device(s) assigned the candidate{(shadow ? " in shadow" : "")}{(assignmentId is null ? "" : " in " + assignmentId)}, {StageDevices(row, index).Count} in all; {(index == 0 ? reason : $"from stage {from + 1}: {reason}")}"),
            figures);
        await store.SaveAsync(row, [entered]);
        LogStage(row.Id, index + 1, percent, entering.Count);
    }

    /// <summary>
    /// Sends every device that got the candidate, in shadow or switched to it, back to its previous model (the baseline
    /// for those that had none; an agent told to run the model it runs drops the shadow candidate) and ends the rollout.
    /// </summary>
    private async Task RollBackAsync(string state, string kind, string actor, string reason, string? figures)
    {
        var row = _row!;
        var affected = RolloutPlan.DevicesWithCandidate(row.Id, row.TargetDevices, row.Stages, row.StageIndex);
        var baseline = ModelVersionText(row.ModelName, row.BaselineVersion);
        var back = new List<string>();
        var failures = new List<string>();
        foreach (var group in affected.GroupBy(device => row.PreviousModels.GetValueOrDefault(device, baseline), StringComparer.Ordinal))
        {
            var (name, version) = ParseModelVersion(group.Key);
            try
            {
                var view = await assignments.AssignAsync(new AssignRequest(name, version, [.. group], null, ModelAssignmentStages.ActiveSlot, null));
                back.Add($"{group.Count()} device(s) to {group.Key} ({view.AssignmentId})");
            }
            catch (ModelRegistryException ex)
            {
                failures.Add($"{group.Count()} device(s) to {group.Key} failed: {ex.Message}");
            }
        }

        var undo = back.Count == 0 && failures.Count == 0 ? "no device had the candidate" : string.Join("; ", back.Concat(failures));
        await FinishAsync(state, kind, actor, $"{reason}. Sent back: {undo}", figures);
        if (failures.Count > 0)
        {
            LogRollBackIncomplete(row.Id, string.Join("; ", failures));
        }
    }

    private async Task FinishAsync(string state, string kind, string actor, string reason, string? figures)
    {
        var row = _row!;
        var now = time.GetUtcNow();
        var from = row.State;
        row.State = state;
        row.Reason = reason;
        row.UpdatedAt = now;
        row.FinishedAt = now;
        await store.SaveAsync(row, [new RolloutEventRow(now, actor, kind, from, state, row.StageIndex, reason, figures)]);
        ArmTimer();
        LogFinished(row.Id, state, reason);
    }

    private async Task TransitionAsync(string state, string kind, string actor, string reason)
    {
        var row = _row!;
        var now = time.GetUtcNow();
        var from = row.State;
        row.State = state;
        row.Reason = state == RolloutStates.Running ? "" : reason;
        row.UpdatedAt = now;
        await store.SaveAsync(row, [new RolloutEventRow(now, actor, kind, from, state, row.StageIndex, reason, null)]);
        ArmTimer();
    }

    private void ArmTimer()
    {
        if (_row is { State: RolloutStates.Running })
        {
            _timer ??= this.RegisterGrainTimer(_ => EvaluateAsync(), new GrainTimerCreationOptions(options.EvaluationInterval, options.EvaluationInterval) { KeepAlive = true });
        }
        else
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    private async Task<(string Kind, IReadOnlyList<string> Devices, RolloutReply? Error)> ResolveTargetAsync(RolloutRequest request)
    {
        var listed = request.Devices ?? [];
        if (listed.Length > 0 && request.Group is { Length: > 0 })
        {
            return ("", [], Invalid("give devices or a group, not both (neither: the whole fleet)."));
        }

        if (request.Group is { Length: > 0 } group)
        {
            if (!DeviceDirectory.IsValidGroup(group))
            {
                return ("", [], Invalid($"group '{group}' is not a group name."));
            }

            var members = await devices.ListActiveIdsInGroupAsync(group);
            return members.Count > 0
                ? ("group", [.. members.Order(StringComparer.Ordinal)], null)
                : ("", [], RolloutReply.Refused(RolloutReply.NotFound, $"Group '{group}' has no active devices."));
        }

        if (listed.Length > 0)
        {
            var ids = listed.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            if (ids.FirstOrDefault(id => !DeviceIds.IsValid(id)) is { } bad)
            {
                return ("", [], Invalid($"'{bad}' is not a valid device id."));
            }

            var missing = new List<string>();
            foreach (var id in ids)
            {
                if (await devices.FindAsync(id) is not { Status: DeviceStatus.Active })
                {
                    missing.Add(id);
                }
            }

            return missing.Count == 0
                ? ("devices", ids, null)
                : ("", [], RolloutReply.Refused(RolloutReply.NotFound, $"Not registered or not active: {string.Join(", ", missing)}."));
        }

        var fleet = await devices.ListActiveIdsAsync();
        return fleet.Count > 0
            ? ("fleet", [.. fleet.Order(StringComparer.Ordinal)], null)
            : ("", [], RolloutReply.Refused(RolloutReply.NotFound, "The fleet has no active devices."));
    }

    private async Task LoadVariantsAsync(CancellationToken cancellationToken)
    {
        var row = _row!;
        _candidateShas = [.. (await models.VersionAsync(row.ModelName, row.CandidateVersion, cancellationToken)).Select(v => v.Sha256.ToLowerInvariant())];
        _baselineShas = [.. (await models.VersionAsync(row.ModelName, row.BaselineVersion, cancellationToken)).Select(v => v.Sha256.ToLowerInvariant())];
    }

    private async Task<RolloutReply> ReplyAsync()
    {
        var row = _row!;
        var events = await store.EventsAsync(row.Id, 500);
        return new RolloutReply(new RolloutStatus(
            row.Id, row.ModelName, row.CandidateVersion, row.BaselineVersion, row.State, row.StageIndex, row.Stages, row.StageStartedAt, row.TargetKind,
            row.TargetGroup, row.TargetDevices, [.. StageDevices(row, row.StageIndex)], row.Gates, row.LastGate, row.Reason, [.. row.AssignmentIds], [.. events],
            row.CreatedAt, row.UpdatedAt, row.FinishedAt));
    }

    private RolloutReply? Refuse(string command) =>
        _row is null ? NotFound()
        : RolloutTransitions.Refusal(_row.State, command) is { } why ? RolloutReply.Refused(RolloutReply.Conflict, $"Rollout {_row.Id}: {why}")
        : null;

    private RolloutReply NotFound() => RolloutReply.Refused(RolloutReply.NotFound, $"No rollout {this.GetPrimaryKeyString()}.");

    private static IReadOnlyList<string> StageDevices(RolloutRow row, int index) =>
        RolloutPlan.StageDevices(row.Id, row.TargetDevices, row.Stages[index].Percent);

    private static RolloutReply Invalid(string message) => RolloutReply.Refused(RolloutReply.Invalid, "The rollout is invalid: " + message);

    private static string? Figures(GateReport? report) => report is null ? null : JsonSerializer.Serialize(report, RolloutStore.Json);

    private static string ModelVersionText(string name, int version) => name + "@" + version.ToString(CultureInfo.InvariantCulture);

    private static (string Name, int Version) ParseModelVersion(string text)
    {
        var at = text.LastIndexOf('@');
        return (text[..at], int.Parse(text.AsSpan(at + 1), CultureInfo.InvariantCulture));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {RolloutId}: {Model} version {Candidate} against {Baseline} over {Devices} device(s)")]
    private partial void LogStarted(string rolloutId, string model, int candidate, int baseline, int devices);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {RolloutId} reloaded: {State} in stage index {StageIndex}")]
    private partial void LogReloaded(string rolloutId, string state, int stageIndex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {RolloutId} entered stage {Stage} ({Percent} %): {Devices} more device(s)")]
    private partial void LogStage(string rolloutId, int stage, double percent, int devices);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {RolloutId} ended {State}: {Reason}")]
    private partial void LogFinished(string rolloutId, string state, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Rollout {RolloutId}: some devices could not be sent back: {Failures}")]
    private partial void LogRollBackIncomplete(string rolloutId, string failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {RolloutId}: evaluating the gates failed; the next tick tries again")]
    private partial void LogEvaluationFailed(Exception ex, string rolloutId);
}
