using System.Globalization;
using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cloud.Grains;

/// <summary>The model twin's durable state, kept inside <see cref="DeviceState"/>.</summary>
[GenerateSerializer]
public sealed class ModelTwinState
{
    [Id(0)]
    public DesiredModel? Desired { get; set; }

    [Id(1)]
    public ReportedModels? Reported { get; set; }

    /// <summary>The newest acknowledgement of any assignment.</summary>
    [Id(2)]
    public ModelAck? LastAck { get; set; }

    /// <summary>The newest acknowledgement of the desired assignment that was a refusal, failure or roll-back.</summary>
    [Id(3)]
    public ModelAck? LastRefusal { get; set; }

    /// <summary>The newest acknowledgement of the desired assignment.</summary>
    [Id(4)]
    public ModelAck? LastAckOfDesired { get; set; }

    /// <summary>When desired and reported last parted; null while they agree.</summary>
    [Id(5)]
    public DateTimeOffset? DriftSince { get; set; }
}

/// <summary>
/// Desired against reported model, like a device twin: the cloud's newest assignment for the device on one side, and on
/// the other what the device last reported running (telemetry's active and candidate SHA-256, or an acknowledgement's).
/// For an "active" assignment the running model must be the chosen variant; for "shadow", the candidate. While they
/// differ, the drift says what is wanted, what runs, since when, and why: the last refusal of that assignment (its
/// reason code and error), else the last stage the device reached, else that it has not answered.
/// </summary>
public sealed class ModelTwin(ModelTwinState state)
{
    public ModelTwinState State => state;

    public void SetDesired(DesiredModel desired)
    {
        if (state.Desired?.AssignmentId != desired.AssignmentId)
        {
            state.LastRefusal = null;
            state.LastAckOfDesired = null;
        }

        state.Desired = desired;
        Settle(desired.Since);
    }

    public void RecordAck(ModelAck ack)
    {
        if (state.LastAck is null || ack.At >= state.LastAck.At)
        {
            state.LastAck = ack;
        }

        if (state.Desired?.AssignmentId == ack.AssignmentId)
        {
            state.LastAckOfDesired = ack;
            if (!ack.Accepted)
            {
                state.LastRefusal = ack;
            }
        }

        // An acknowledgement names what the device runs after that stage; an empty field says nothing.
        if (ack.ActiveSha256.Length > 0 || ack.CandidateSha256.Length > 0)
        {
            Report(new ReportedModels(ack.ActiveSha256, ack.CandidateSha256, ack.At, "ack"));
        }
        else
        {
            Settle(ack.At);
        }
    }

    public void Report(ReportedModels reported)
    {
        if (state.Reported is { } current && reported.At < current.At)
        {
            return;
        }

        state.Reported = reported;
        Settle(reported.At);
    }

    public DeviceTwin Snapshot(string deviceId)
    {
        var inSync = InSync();
        return new DeviceTwin(deviceId, state.Desired, state.Reported, inSync, inSync ? null : Drift(), state.LastAck);
    }

    private bool InSync()
    {
        if (state.Desired is not { } desired)
        {
            return true;
        }

        return desired.SelectedSha256.Length > 0 && string.Equals(Running(desired), desired.SelectedSha256, StringComparison.OrdinalIgnoreCase);
    }

    private void Settle(DateTimeOffset at)
    {
        if (InSync())
        {
            state.DriftSince = null;
        }
        else
        {
            state.DriftSince ??= at;
        }
    }

    private string Running(DesiredModel desired) =>
        desired.Slot == "shadow" ? state.Reported?.CandidateSha256 ?? "" : state.Reported?.ActiveSha256 ?? "";

    private ModelDrift Drift()
    {
        var desired = state.Desired!;
        var wanted = desired.SelectedSha256.Length > 0 ? desired.SelectedSha256 : "any of " + string.Join(", ", desired.VariantSha256s) + " (variant not chosen yet)";
        var running = Running(desired);
        var since = state.DriftSince ?? desired.Since;
        string why;
        if (state.LastRefusal is { } refusal)
        {
            var reason = refusal.ReasonCode.Length > 0 ? refusal.ReasonCode : "no reason code";
            var detail = refusal.Error.Length > 0 ? ": " + refusal.Error : "";
            why = string.Create(CultureInfo.InvariantCulture, $"the device refused {desired.ModelVersion}: {refusal.Stage} ({reason}) at {refusal.At:u}{detail}");
        }
        else if (state.LastAckOfDesired is { } progress)
        {
            why = desired.SelectedSha256.Length == 0 && progress.Stage == "benchmarked"
                ? string.Create(CultureInfo.InvariantCulture, $"the device benchmarked the variants at {progress.At:u}; the cloud is choosing")
                : string.Create(CultureInfo.InvariantCulture, $"in progress: the device reached '{progress.Stage}' at {progress.At:u}");
        }
        else if (desired.SelectedSha256.Length == 0)
        {
            why = "waiting for the device to download and benchmark the variants (no acknowledgement yet)";
        }
        else
        {
            why = state.Reported is null
                ? "the device has not acknowledged the assignment and has reported no model"
                : string.Create(CultureInfo.InvariantCulture, $"the device has not acknowledged the assignment; it last reported {(running.Length > 0 ? running : "no model")} at {state.Reported.At:u}");
        }

        return new ModelDrift(wanted, running, since, why, state.LastRefusal?.ReasonCode ?? "", state.LastRefusal?.Error ?? "");
    }
}
