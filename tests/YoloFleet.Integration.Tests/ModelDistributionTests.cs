using YoloFleet.EdgeAgent.Models;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The agent's half of model distribution, with a real agent process and the real broker; the test plays the cloud:
/// it signs manifests, serves artifacts over HTTP on loopback and publishes the retained ModelAssigned.
/// </summary>
[Trait("Category", "ModelDistribution")]
public sealed class ModelDistributionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    /// <summary>The model the agent is moved to: PicoDet-S 320, with its COCO names in the signed manifest.</summary>
    private static string NewModel => SharedData.PicoDetS320;

    private static IReadOnlyList<string> CocoNames => File.ReadAllLines(SharedData.Path("models", "picodet_s", "coco80.names"))
        .Where(line => line.Length > 0).ToList();

    [Fact]
    public async Task An_assigned_model_is_downloaded_across_a_cut_verified_switched_to_and_reported_and_not_redone_after_a_restart()
    {
        await using var rig = await ModelDistributionRig.StartAsync("md-swap");
        var sha = TestModelSigner.Sha256Of(NewModel);
        var factorySha = TestModelSigner.Sha256Of(ModelDistributionRig.FactoryModel);
        var assignment = rig.Assignment("swap-1", NewModel, "picodet.onnx", classNames: CocoNames);
        rig.Server.CutNextAfter("picodet.onnx", new FileInfo(NewModel).Length / 2);

        using (var agent = rig.StartAgent())
        {
            await rig.WaitForDetectionsAsync(d => d.ModelSha256 == factorySha, Patience, agent);
            await rig.AssignAsync(assignment);

            var activated = await rig.WaitForAckAsync(a => a.AssignmentId == "swap-1" && a.Stage is "activated" or "rejected" or "rolled-back" or "failed", Patience, agent);
            Assert.True(activated.Stage == "activated", rig.Describe() + Environment.NewLine + agent.RecentOutput);
            // Slot B stays empty: the model it replaced is the factory model, which is always there to fall back to.
            Assert.Equal((sha, sha, ""), (activated.Sha256, activated.ActiveSha256, activated.CandidateSha256));
            Assert.Equal(["downloading", "verified", "activated"], rig.Acks.Where(a => a.AssignmentId == "swap-1").Select(a => a.Stage));

            // The first connection was cut halfway; the second asked for the rest only.
            var requests = rig.Server.Requests.ToList();
            Assert.Equal(2, requests.Count);
            Assert.True(requests[0].Cut);
            Assert.InRange(requests[1].RangeFrom, 1, new FileInfo(NewModel).Length / 2);
            Assert.Equal(206, requests[1].Status);

            // The heartbeat and the detections name the model that runs now.
            var telemetry = await rig.WaitForTelemetryAsync(t => t.ActiveModelSha256 == sha, Patience, agent);
            Assert.Equal("", telemetry.CandidateModelSha256);
            await rig.WaitForDetectionsAsync(d => d.ModelSha256 == sha, Patience, agent);
            Assert.All(rig.Detections, d => Assert.Contains(d.ModelSha256, new[] { sha, factorySha }));
            agent.Kill();
        }

        // Restarted: it starts on slot A, and the retained assignment it receives again is not redone. (What the killed
        // run had not yet sent may arrive again: at-least-once. New messages have higher sequence numbers.)
        var lastAck = rig.Acks.Max(a => a.Envelope.Sequence);
        var lastTelemetry = rig.Telemetry.Max(t => t.Envelope.Sequence);
        using (var restarted = rig.StartAgent())
        {
            var telemetry = await rig.WaitForTelemetryAsync(t => t.Envelope.Sequence > lastTelemetry, Patience, restarted);
            Assert.Equal(sha, telemetry.ActiveModelSha256);
            await rig.WaitForDetectionsAsync(d => d.Envelope.Sequence > telemetry.Envelope.Sequence && d.ModelSha256 == sha, Patience, restarted);
            Assert.DoesNotContain(rig.Acks, a => a.Envelope.Sequence > lastAck);
            Assert.Equal(2, rig.Server.Requests.Count);
        }
    }

    [Fact]
    public async Task A_tampered_artifact_a_tampered_manifest_and_an_unsigned_manifest_are_each_refused_and_the_refusal_reaches_the_cloud()
    {
        await using var rig = await ModelDistributionRig.StartAsync("md-refuse");
        var factorySha = TestModelSigner.Sha256Of(ModelDistributionRig.FactoryModel);
        var manifest = TestModelSigner.ManifestFor(NewModel, classNames: CocoNames);
        var genuine = rig.Server.ServeFile("picodet.onnx", NewModel);
        var altered = File.ReadAllBytes(NewModel);
        altered[altered.Length / 3] ^= 0x01;
        var tampered = rig.Server.ServeBytes("tampered.onnx", altered);
        var editedManifest = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(rig.Signer.SignedJson(manifest))
            .Replace("\"1.0.0\"", "\"9.9.9\"", StringComparison.Ordinal));

        using var agent = rig.StartAgent();
        await rig.WaitForDetectionsAsync(d => d.ModelSha256 == factorySha, Patience, agent);
        var cases = new (string Id, byte[] Manifest, Uri Url, string Code)[]
        {
            ("tampered-artifact", rig.Signer.SignedJson(manifest), tampered, ManifestRejection.HashMismatch),
            ("tampered-manifest", editedManifest, genuine, ManifestRejection.BadSignature),
            ("unsigned-manifest", TestModelSigner.UnsignedJson(manifest), genuine, ManifestRejection.Unsigned),
        };
        foreach (var (id, json, url, code) in cases)
        {
            await rig.AssignAsync(TestModelSigner.Assignment(id, manifest.Model.Sha256, [TestModelSigner.Variant(json, url)]));
            var refusal = await rig.WaitForAckAsync(a => a.AssignmentId == id && !a.Accepted, Patience, agent);

            Assert.Equal(("rejected", code, manifest.Model.Sha256, factorySha), (refusal.Stage, refusal.ReasonCode, refusal.Sha256, refusal.ActiveSha256));
            Assert.NotEmpty(refusal.Error);
        }

        // Only the tampered artifact was fetched (a bad manifest stops before any download); the factory model still
        // runs, and nothing was installed beside it.
        Assert.Equal(["tampered.onnx"], rig.Server.Requests.Select(r => r.Name));
        var lastAck = rig.Acks.Max(a => a.Envelope.Sequence);
        var telemetry = await rig.WaitForTelemetryAsync(t => t.Envelope.Sequence > lastAck, Patience, agent);
        Assert.Equal((factorySha, ""), (telemetry.ActiveModelSha256, telemetry.CandidateModelSha256));
    }

    [Theory]
    [InlineData("wrong-shape", ModelReasonCodes.HealthShape)]
    [InlineData("too-slow", ModelReasonCodes.HealthLatency)]
    public async Task A_model_that_loads_but_fails_its_health_check_is_rolled_back_by_the_agent_itself(string kind, string code)
    {
        await using var rig = await ModelDistributionRig.StartAsync("md-health");
        var factorySha = TestModelSigner.Sha256Of(ModelDistributionRig.FactoryModel);
        var modelsFolder = rig.StateDirectory + "-models";
        Directory.CreateDirectory(modelsFolder);
        try
        {
            // Wrong shape: a model built here that declares [1,84,85] and produces [1,0,85] on the self-test image.
            // Too slow: a real detector against a bound of half a millisecond.
            var assignment = kind == "wrong-shape"
                ? rig.Assignment(kind, WriteWrongShapeModel(modelsFolder), "wrong-shape.onnx")
                : rig.Assignment(kind, NewModel, "picodet.onnx", maxLatencyMs: 0.5f, classNames: CocoNames);

            using var agent = rig.StartAgent();
            await rig.WaitForDetectionsAsync(d => d.ModelSha256 == factorySha, Patience, agent);
            await rig.AssignAsync(assignment);
            var outcome = await rig.WaitForAckAsync(a => a.AssignmentId == kind && a.Stage is "activated" or "rejected" or "rolled-back" or "failed", Patience, agent);

            Assert.Equal(("rolled-back", false, code), (outcome.Stage, outcome.Accepted, outcome.ReasonCode));
            Assert.Equal((factorySha, assignment.SelectedSha256), (outcome.ActiveSha256, outcome.CandidateSha256));
            Assert.Contains(rig.Acks, a => a.AssignmentId == kind && a.Stage == "verified");

            // The factory model never stopped: frames after the refusal still come from it.
            await rig.WaitForDetectionsAsync(d => d.Envelope.Sequence > outcome.Envelope.Sequence + 2, Patience, agent);
            Assert.All(rig.Detections, d => Assert.Equal(factorySha, d.ModelSha256));
            var telemetry = await rig.WaitForTelemetryAsync(t => t.Envelope.Sequence > outcome.Envelope.Sequence, Patience, agent);
            Assert.Equal((factorySha, assignment.SelectedSha256), (telemetry.ActiveModelSha256, telemetry.CandidateModelSha256));
        }
        finally
        {
            Directory.Delete(modelsFolder, recursive: true);
        }
    }

    public static TheoryData<string> CrashSteps => [.. SwapCrashHook.Steps];

    [Theory]
    [MemberData(nameof(CrashSteps))]
    [Trait("Category", "Faults")]
    public async Task An_agent_killed_at_any_step_of_a_swap_restarts_on_a_verified_model_and_finishes_the_swap(string step)
    {
        await using var rig = await ModelDistributionRig.StartAsync("md-crash");
        var sha = TestModelSigner.Sha256Of(NewModel);
        var factorySha = TestModelSigner.Sha256Of(ModelDistributionRig.FactoryModel);
        await rig.AssignAsync(rig.Assignment("crash-" + step, NewModel, "picodet.onnx", classNames: CocoNames));

        // The first run dies at the step (the retained assignment reaches it as soon as it connects).
        using (var doomed = rig.StartAgent(new Dictionary<string, string> { [SwapCrashHook.EnvironmentVariable] = step }))
        {
            try
            {
                await doomed.WaitForExitAsync(Patience);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the agent did not reach {step}; {rig.Describe()}{Environment.NewLine}{doomed.RecentOutput}");
            }

            Assert.True(doomed.ExitCode == SwapCrashHook.ExitCode, $"exit code {doomed.ExitCode}{Environment.NewLine}{doomed.RecentOutput}");
        }

        // Whatever it left, the next start runs a model that verifies, then completes the swap.
        var lastBefore = rig.Detections.Select(d => d.Envelope.Sequence).DefaultIfEmpty(0UL).Max();
        using var restarted = rig.StartAgent();
        var first = await rig.WaitForDetectionsAsync(d => d.Envelope.Sequence > lastBefore, Patience, restarted);
        Assert.Contains(first.ModelSha256, new[] { factorySha, sha });
        var activated = await rig.WaitForAckAsync(a => a.Stage == "activated" && a.Sha256 == sha, Patience, restarted);
        Assert.Equal(sha, activated.ActiveSha256);
        await rig.WaitForTelemetryAsync(t => t.ActiveModelSha256 == sha, Patience, restarted);
        Assert.DoesNotContain(rig.Acks, a => !a.Accepted);

        // Every frame of both runs came from one of the two verified models.
        Assert.All(rig.Detections, d => Assert.Contains(d.ModelSha256, new[] { factorySha, sha }));
    }

    /// <summary>Writes a model (built here, not shared) that loads as a detector but produces the wrong output shape.</summary>
    private static string WriteWrongShapeModel(string folder)
    {
        var path = Path.Combine(folder, "wrong-shape.onnx");
        File.WriteAllBytes(path, YoloFleet.Inference.Tests.Support.TinyOnnxModel.ImageDependentRows(64, 64, [1, 84, 85], 0f));
        return path;
    }
}
