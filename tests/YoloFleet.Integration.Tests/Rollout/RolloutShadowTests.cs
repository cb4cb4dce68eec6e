using System.Net;
using System.Text.Json;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.Rollout;

/// <summary>
/// The shadow gate with real agents: a rollout whose first stage runs the candidate in shadow on two real
/// `yolofleet-agent` processes (coco128 at 2 frames/s, every frame shadowed, 3 s windows, one disagreement frame per
/// window for the FP32 verifier). The bound on divergence is set tight (0.10), so two different models always cross it
/// and the FP32 verdicts on the frames they disagree on decide: a candidate right more often than the active model
/// passes, one right less often is rolled back by the shadow gate, with the reason and figures in the audit trail.
/// </summary>
[Collection(RolloutCollection.Name)]
[Trait("Category", "Rollout")]
public sealed class RolloutShadowTests(RolloutFleet fixture)
{
    private const int Agents = 2;
    private const int MinShadowWindows = 4;
    private static readonly TimeSpan RolloutLimit = TimeSpan.FromMinutes(5);

    private static object Request(string model, string group) => new
    {
        model,
        candidateVersion = 2,
        group,
        stages = new object[]
        {
            new { percent = 100, minSoak = "00:00:01", minAgreementSamples = 0, minLatencySamples = 0, shadow = true, minShadowWindows = MinShadowWindows },
            new { percent = 100, minSoak = "00:00:01", minAgreementSamples = 0, minLatencySamples = 0, minShadowWindows = MinShadowWindows },
        },
        gates = new { maxShadowDivergence = 0.10 },
    };

    /// <summary>
    /// picodet_s_416 runs; yolox_nano_416, the FP32 verifier's own model, is the candidate in shadow: the two diverge, but
    /// where they disagree FP32 sides with the candidate, so the shadow gate passes and the next stage switches the agents.
    /// </summary>
    [Fact]
    public async Task Real_agents_shadowing_a_good_candidate_pass_the_shadow_gate_and_then_run_it()
    {
        await using var agents = await RealAgents.StartAsync(fixture, "ro-shadow-good", SharedData.PicoDetS416, fixture.RealBaselineSha256);
        var id = (await fixture.PostAsync("api/rollouts", Request(RolloutFleet.RealModelName, agents.Group), HttpStatusCode.Created)).GetProperty("id").GetString()!;

        var status = await WaitForEndAsync(id, agents);
        Assert.True(status.GetProperty("state").GetString() == "completed", $"rollout did not complete: {status}{Environment.NewLine}{agents.Describe()}");
        var entered = Events(status, "stage-entered");
        Assert.Equal([0, 1], entered.Select(e => e.GetProperty("stageIndex").GetInt32()));
        Assert.Contains("in shadow", entered[0].GetProperty("reason").GetString(), StringComparison.Ordinal);

        // The shadow stage passed on its shadow gate: enough windows, over the bound, and FP32 on the candidate's side.
        var shadow = JsonDocument.Parse(entered[1].GetProperty("figures").GetString()!).RootElement.GetProperty("shadowWindows");
        Assert.Equal("pass", shadow.GetProperty("decision").GetString());
        Assert.True(shadow.GetProperty("windows").GetInt64() >= MinShadowWindows, shadow.ToString());
        Assert.True(shadow.GetProperty("divergence").GetDouble() > 0.10, shadow.ToString());
        Assert.True(shadow.GetProperty("verdicts").GetInt64() >= MinShadowWindows, shadow.ToString());
        Assert.True(shadow.GetProperty("candidateAgreement").GetDouble() > shadow.GetProperty("activeAgreement").GetDouble(), shadow.ToString());

        // Each agent acknowledged the shadow assignment, then switched to the candidate in the last stage.
        foreach (var (rig, agent) in agents.Pairs)
        {
            await rig.WaitForAckAsync(a => a.Stage == "shadowing" && a.Sha256 == fixture.RealCandidateSha256, TimeSpan.FromSeconds(30), agent);
            await rig.WaitForTelemetryAsync(t => t.ActiveModelSha256 == fixture.RealCandidateSha256, TimeSpan.FromMinutes(2), agent);
        }
    }

    /// <summary>
    /// yolox_nano_416 runs; picodet_s_416 is the candidate in shadow: where the two disagree FP32 sides with the active
    /// model, so the shadow gate rolls the rollout back in its first stage, and the agents stop shadowing it.
    /// </summary>
    [Fact]
    public async Task Real_agents_shadowing_a_worse_candidate_are_rolled_back_by_the_shadow_gate_with_the_reason_recorded()
    {
        await using var agents = await RealAgents.StartAsync(fixture, "ro-shadow-bad", SharedData.YoloxNano416, fixture.BaselineSha256);
        var id = (await fixture.PostAsync("api/rollouts", Request(RolloutFleet.ModelName, agents.Group), HttpStatusCode.Created)).GetProperty("id").GetString()!;

        var status = await WaitForEndAsync(id, agents);
        Assert.True(status.GetProperty("state").GetString() == "rolled-back", $"rollout was not rolled back: {status}{Environment.NewLine}{agents.Describe()}");
        Assert.Equal(0, status.GetProperty("stageIndex").GetInt32());
        Assert.StartsWith("shadow divergence:", status.GetProperty("reason").GetString(), StringComparison.Ordinal);

        // The audit trail has the decision, who made it, and the figures behind it.
        var rolledBack = Assert.Single(Events(status, "rolled-back"));
        Assert.Equal("system", rolledBack.GetProperty("actor").GetString());
        var shadow = JsonDocument.Parse(rolledBack.GetProperty("figures").GetString()!).RootElement.GetProperty("shadowWindows");
        Assert.Equal("roll-back", shadow.GetProperty("decision").GetString());
        Assert.True(shadow.GetProperty("verdicts").GetInt64() >= MinShadowWindows, shadow.ToString());
        Assert.True(shadow.GetProperty("candidateAgreement").GetDouble() <= shadow.GetProperty("activeAgreement").GetDouble(), shadow.ToString());
        var audit = await fixture.QueryAsync($"SELECT reason FROM rollout_events WHERE rollout_id = '{id}' AND kind = 'rolled-back'", r => r.GetString(0));
        Assert.StartsWith("shadow divergence:", Assert.Single(audit), StringComparison.Ordinal);

        // Sent back to the model they run (the roll-back's assignment, after the shadow one): each agent takes it as done,
        // and stops shadowing the candidate.
        var shadowAssignment = Assert.Single(status.GetProperty("assignmentIds").EnumerateArray()).GetString();
        foreach (var (rig, agent) in agents.Pairs)
        {
            await rig.WaitForAckAsync(a => a.AssignmentId == shadowAssignment && a.Stage == "shadowing" && a.Sha256 == fixture.CandidateSha256, TimeSpan.FromSeconds(30), agent);
            var done = await rig.WaitForAckAsync(a => a.AssignmentId != shadowAssignment && a.Stage is "activated" or "rejected" or "failed", TimeSpan.FromMinutes(1), agent);
            Assert.Equal(("activated", fixture.BaselineSha256, fixture.BaselineSha256), (done.Stage, done.Sha256, done.ActiveSha256));
        }
    }

    private async Task<JsonElement> WaitForEndAsync(string id, RealAgents agents)
    {
        var status = await Poll.UntilAsync(() => fixture.GetAsync($"api/rollouts/{id}"), s => s.GetProperty("state").GetString() != "running", RolloutLimit);
        Assert.True(status.GetProperty("state").GetString() != "running", $"the rollout did not end within {RolloutLimit}: {status}{Environment.NewLine}{agents.Describe()}");
        return status;
    }

    private static List<JsonElement> Events(JsonElement status, string kind) =>
        [.. status.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("kind").GetString() == kind)];

    /// <summary>Real agent processes in a group of their own, pinning the cloud's signing key, shadowing every frame.</summary>
    private sealed class RealAgents : IAsyncDisposable
    {
        private readonly List<ModelDistributionRig> _rigs = [];
        private readonly List<AgentProcess> _agents = [];
        private string _keyFolder = "";

        public string Group { get; private set; } = "";

        public IEnumerable<(ModelDistributionRig Rig, AgentProcess Agent)> Pairs => _rigs.Zip(_agents);

        public static async Task<RealAgents> StartAsync(RolloutFleet fixture, string prefix, string factoryModel, string factorySha256)
        {
            var agents = new RealAgents { Group = prefix + "-" + Guid.NewGuid().ToString("N")[..6] };
            try
            {
                agents._keyFolder = Directory.CreateTempSubdirectory("yf-ro-shadow-keys-").FullName;
                var trustedKey = Path.Combine(agents._keyFolder, "cloud-signing.pub.pem");
                await File.WriteAllTextAsync(trustedKey, (await fixture.GetAsync("api/signing-key")).GetProperty("publicKeyPem").GetString());
                for (var i = 0; i < Agents; i++)
                {
                    agents._rigs.Add(await ModelDistributionRig.StartAsync(agents.Group, TestServices.Mosquitto));
                }

                await fixture.RegisterDevicesAsync(agents.Group, agents._rigs.Select(r => r.DeviceId));
                agents._agents.AddRange(agents._rigs.Select(rig => rig.StartAgent(configure: settings =>
                {
                    settings["Agent:ModelPath"] = factoryModel;
                    settings["Agent:Models:TrustedKeys:0"] = trustedKey;
                    settings["Agent:Source:MaxFps"] = "2";
                    settings["Agent:HardFrames:Enabled"] = "true";
                    settings["Agent:HardFrames:SampleRate"] = "0";
                    settings["Agent:HardFrames:BudgetPerHour"] = "3600";
                    settings["Agent:Shadow:SampleRate"] = "1";
                    settings["Agent:Shadow:MaxCpuShare"] = "0.9";
                    settings["Agent:Shadow:WindowSeconds"] = "3";
                    settings["Agent:Shadow:HardFramesPerWindow"] = "1";
                })));

                // Every agent runs its factory model before the rollout starts.
                foreach (var (rig, agent) in agents.Pairs)
                {
                    await rig.WaitForTelemetryAsync(t => t.ActiveModelSha256 == factorySha256, TimeSpan.FromMinutes(2), agent);
                }

                return agents;
            }
            catch
            {
                await agents.DisposeAsync();
                throw;
            }
        }

        public string Describe() => string.Join(Environment.NewLine, Pairs.Select(p => $"{p.Rig.DeviceId}: {p.Rig.Describe()}{Environment.NewLine}{p.Agent.Tail()}"));

        public async ValueTask DisposeAsync()
        {
            foreach (var agent in _agents)
            {
                agent.Dispose();
            }

            foreach (var rig in _rigs)
            {
                await rig.DisposeAsync();
            }

            if (_keyFolder.Length > 0)
            {
                Directory.Delete(_keyFolder, recursive: true);
            }
        }
    }
}
