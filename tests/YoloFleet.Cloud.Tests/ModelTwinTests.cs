using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Grains;

namespace YoloFleet.Cloud.Tests;

/// <summary>The device twin: desired against reported model, with drift (wanted, running, since, why) while they differ.</summary>
public sealed class ModelTwinTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly string Fp32 = new('a', 64);
    private static readonly string Int8 = new('b', 64);
    private static readonly string Old = new('0', 64);

    private static DesiredModel Desired(string selected, string slot = "active", string assignment = "asg-1", int minutes = 0) =>
        new(assignment, "yolox@3", slot, selected, [Fp32, Int8], T0.AddMinutes(minutes));

    private static ModelAck Ack(string stage, bool accepted, int minutes, string reason = "", string error = "", string active = "", string assignment = "asg-1") =>
        new(assignment, stage, accepted, reason, error, "", active, "", T0.AddMinutes(minutes));

    [Fact]
    public void No_assignment_is_no_drift()
    {
        var twin = new ModelTwin(new ModelTwinState());
        twin.Report(new ReportedModels(Old, "", T0, "telemetry"));

        var snapshot = twin.Snapshot("pi-1");
        Assert.True(snapshot.InSync);
        Assert.Null(snapshot.Drift);
    }

    [Fact]
    public void Drift_appears_with_an_assignment_says_why_and_clears_when_the_device_runs_the_chosen_variant()
    {
        var twin = new ModelTwin(new ModelTwinState());
        twin.Report(new ReportedModels(Old, "", T0, "telemetry"));
        twin.SetDesired(Desired(selected: "", minutes: 1));

        var waiting = twin.Snapshot("pi-1");
        Assert.False(waiting.InSync);
        Assert.StartsWith("any of " + Fp32, waiting.Drift!.Wanted, StringComparison.Ordinal);
        Assert.Equal((Old, T0.AddMinutes(1)), (waiting.Drift.Running, waiting.Drift.Since));
        Assert.Contains("benchmark", waiting.Drift.Why, StringComparison.Ordinal);

        twin.RecordAck(Ack("benchmarked", true, 2, active: Old));
        twin.SetDesired(Desired(Int8, minutes: 3));
        var chosen = twin.Snapshot("pi-1");
        Assert.Equal((Int8, T0.AddMinutes(1)), (chosen.Drift!.Wanted, chosen.Drift.Since));
        Assert.Contains("reached 'benchmarked'", chosen.Drift.Why, StringComparison.Ordinal);

        twin.Report(new ReportedModels(Int8, "", T0.AddMinutes(4), "telemetry"));
        var settled = twin.Snapshot("pi-1");
        Assert.True(settled.InSync);
        Assert.Null(settled.Drift);
    }

    [Fact]
    public void A_refusal_is_the_why_with_its_reason_code_and_error_and_drift_counts_from_when_it_parted()
    {
        var twin = new ModelTwin(new ModelTwinState());
        twin.SetDesired(Desired(Int8));
        twin.Report(new ReportedModels(Int8, "", T0.AddMinutes(1), "telemetry"));
        Assert.True(twin.Snapshot("pi-1").InSync);

        twin.RecordAck(Ack("rolled-back", false, 5, "health-latency", "p50 41 ms over the 30 ms bound", active: Fp32));

        var drift = twin.Snapshot("pi-1").Drift!;
        Assert.Equal((Int8, Fp32, T0.AddMinutes(5)), (drift.Wanted, drift.Running, drift.Since));
        Assert.Equal(("health-latency", "p50 41 ms over the 30 ms bound"), (drift.ReasonCode, drift.Error));
        Assert.Contains("rolled-back (health-latency)", drift.Why, StringComparison.Ordinal);
        Assert.Contains("p50 41 ms", drift.Why, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shadow_assignment_is_met_by_the_candidate_slot_and_stale_reports_are_ignored()
    {
        var twin = new ModelTwin(new ModelTwinState());
        twin.SetDesired(Desired(Int8, slot: "shadow"));
        twin.Report(new ReportedModels(Old, Int8, T0.AddMinutes(2), "telemetry"));
        Assert.True(twin.Snapshot("pi-1").InSync);

        // An older report arriving late changes nothing.
        twin.Report(new ReportedModels(Old, "", T0.AddMinutes(1), "telemetry"));
        Assert.True(twin.Snapshot("pi-1").InSync);
    }

    [Fact]
    public void A_new_assignment_forgets_the_refusals_of_the_old_one()
    {
        var twin = new ModelTwin(new ModelTwinState());
        twin.SetDesired(Desired(Int8));
        twin.RecordAck(Ack("rejected", false, 1, "bad-signature", "signature does not match"));
        twin.SetDesired(Desired(Fp32, assignment: "asg-2", minutes: 2));

        var drift = twin.Snapshot("pi-1").Drift!;
        Assert.Equal("", drift.ReasonCode);
        Assert.DoesNotContain("bad-signature", drift.Why, StringComparison.Ordinal);

        // An acknowledgement of the old assignment is history, not the reason for the new one's drift.
        twin.RecordAck(Ack("failed", false, 3, "disk", "no space", assignment: "asg-1"));
        Assert.Equal("", twin.Snapshot("pi-1").Drift!.ReasonCode);
    }
}
