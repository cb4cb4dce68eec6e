using Microsoft.Extensions.DependencyInjection;
using YoloFleet.Cli;
using YoloFleet.Cloud.Data.Shadow;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// Shadow mode end to end over the real broker and PostgreSQL: a real agent process runs yolox_nano_416 and is assigned
/// picodet_s_320 (signed the way <see cref="ModelDistributionTests"/> does) with slot "shadow"; the candidate runs beside
/// the active model on sampled frames, and its windows land in <c>shadow_windows</c>, its disagreement frames in
/// <c>hard_frames</c> with both models' boxes.
/// </summary>
[Trait("Category", "ModelDistribution")]
public sealed class ShadowModeTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    private readonly PostgresDatabase _database = new();
    private LocalFleet _fleet = null!;

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        _fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_shadow_candidate_on_a_real_agent_reports_windows_that_land_in_postgres_and_sends_disagreement_frames_with_both_models_boxes()
    {
        await using var rig = await ModelDistributionRig.StartAsync("shadow", (_fleet.BrokerHost, _fleet.BrokerPort));
        var device = rig.DeviceId;
        await _fleet.RegisterDeviceAsync(device, CancellationToken.None);
        var activeSha = TestModelSigner.Sha256Of(ModelDistributionRig.FactoryModel);
        var candidateSha = TestModelSigner.Sha256Of(SharedData.PicoDetS320);
        using var agent = rig.StartAgent(configure: settings =>
        {
            settings["Agent:Shadow:SampleRate"] = "0.5";
            settings["Agent:Shadow:MaxCpuShare"] = "0.6";
            settings["Agent:Shadow:WindowSeconds"] = "3";
            settings["Agent:Shadow:HardFramesPerWindow"] = "1";
            settings["Agent:HardFrames:Enabled"] = "true";
            settings["Agent:HardFrames:SampleRate"] = "0";
            settings["Agent:HardFrames:BudgetPerHour"] = "1000";
        });

        var cocoNames = File.ReadAllLines(SharedData.Path("models", "picodet_s", "coco80.names")).Where(line => line.Length > 0).ToList();
        var assignment = rig.Assignment("shadow-1", SharedData.PicoDetS320, "picodet.onnx", classNames: cocoNames);
        assignment.Slot = "shadow";
        await rig.AssignAsync(assignment);
        var outcome = await rig.WaitForAckAsync(a => a.AssignmentId == "shadow-1" && a.Stage is "shadowing" or "rejected" or "rolled-back" or "failed", Patience, agent);
        Assert.True(outcome.Stage == "shadowing", rig.Describe() + Environment.NewLine + agent.Tail());

        // Windows: stored once each, naming both models, with the candidate run on a sampled part of the frames.
        var windows = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT active_sha256, candidate_sha256, frames, shadowed_frames, matched, only_active, only_candidate, candidate_p50_ms, active_p50_ms, shadow_cpu_share FROM shadow_windows WHERE device_id = '{device}' ORDER BY sequence",
                r => (Active: r.GetString(0), Candidate: r.GetString(1), Frames: r.GetInt64(2), Shadowed: r.GetInt64(3), Matched: r.GetInt64(4),
                    OnlyActive: r.GetInt64(5), OnlyCandidate: r.GetInt64(6), CandidateP50: r.GetFloat(7), ActiveP50: r.GetFloat(8), Share: r.GetFloat(9))),
            rows => rows.Count(row => row.Shadowed > 0) >= 2,
            Patience);
        Assert.True(windows.Count(row => row.Shadowed > 0) >= 2, $"{windows.Count} window(s) stored; agent:{Environment.NewLine}{agent.Tail()}");
        Assert.All(windows, row => Assert.Equal((activeSha, candidateSha), (row.Active, row.Candidate)));
        Assert.Contains(windows, row => row.Frames > row.Shadowed && row.Shadowed > 0);
        Assert.True(windows.Sum(row => row.Matched) > 0, "the two models agree on some boxes");
        Assert.All(windows.Where(row => row.Shadowed > 0), row =>
        {
            Assert.True(row.CandidateP50 > 0 && row.ActiveP50 > 0, $"latencies {row.ActiveP50} / {row.CandidateP50}");
            Assert.InRange(row.Share, 0.01f, 0.6f);
        });

        // Disagreement frames: the active model's boxes and the candidate's, each with its own hash, for the FP32 verifier.
        var hard = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT model_sha256, shadow_model_sha256, jsonb_array_length(edge_detections), jsonb_array_length(shadow_detections) FROM hard_frames WHERE device_id = '{device}' AND reason = 'shadow-disagreement'",
                r => (Active: r.GetString(0), Candidate: r.GetString(1), ActiveBoxes: r.GetInt32(2), CandidateBoxes: r.GetInt32(3))),
            rows => rows.Count > 0,
            Patience);
        Assert.True(hard.Count > 0, "no shadow-disagreement hard frame stored; agent:" + Environment.NewLine + agent.Tail());
        Assert.All(hard, row =>
        {
            Assert.Equal((activeSha, candidateSha), (row.Active, row.Candidate));
            Assert.True(row.ActiveBoxes + row.CandidateBoxes > 0, "a disagreement has boxes on at least one side");
        });
        Assert.True(windows.Sum(row => row.OnlyActive + row.OnlyCandidate) > 0 || hard.Count > 0);

        // What the rollout's shadow gate reads: the candidate's windows summed over the devices and a period; and a window
        // received again (same device and sequence) is not stored twice.
        var store = _fleet.CloudServices.GetRequiredService<ShadowWindowStore>();
        var totals = await store.TotalsAsync(candidateSha, [device, "no-such-device"], DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1));
        var stored = await _database.QueryAsync(
            $"SELECT count(*), coalesce(sum(matched), 0)::bigint, coalesce(sum(only_active + only_candidate), 0)::bigint, min(sequence) FROM shadow_windows WHERE device_id = '{device}' AND shadowed_frames > 0",
            r => (Windows: r.GetInt64(0), Matched: r.GetInt64(1), Diverged: r.GetInt64(2), FirstSequence: r.GetInt64(3)));
        var (count, matched, diverged, firstSequence) = stored.Single();
        Assert.Equal((count, 1L, matched, diverged), (totals.Windows, totals.Devices, totals.Matched, totals.OnlyActive + totals.OnlyCandidate));
        Assert.InRange(totals.Divergence, 0.0, 1.0);
        var again = new ShadowWindowRow(device, firstSequence, activeSha, candidateSha, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0.1f, DateTimeOffset.UtcNow);
        Assert.Equal(0, await store.InsertAsync(again));
        Assert.Equal(0L, (await store.TotalsAsync(candidateSha, ["no-such-device"], DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1))).Windows);
        Assert.Equal(0, _fleet.Counters.RejectedCount(YoloFleet.Contracts.RejectReason.OutOfRange));
    }
}
