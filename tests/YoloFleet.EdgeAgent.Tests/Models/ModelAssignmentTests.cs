using System.Net;
using System.Text;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>
/// Assignments end to end inside the agent: real downloads from a loopback server, real signatures, real slots on disk,
/// real health checks, and the acknowledgements the cloud would receive.
/// </summary>
public sealed class ModelAssignmentTests : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "yf-models-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<string> _states = [];
    private readonly TestModelSigner _signer = new();
    private readonly ArtifactServer _server = new();

    public ModelAssignmentTests()
    {
        Factory = TinyModels.WriteYolox(_models, "factory.onnx", 0.001f);
        ModelB = TinyModels.WriteYolox(_models, "model-b.onnx", 0.002f);
        ModelC = TinyModels.WriteYolox(_models, "model-c.onnx", 0.003f);
    }

    private string Factory { get; }

    private string ModelB { get; }

    private string ModelC { get; }

    public void Dispose()
    {
        _server.Dispose();
        _signer.Dispose();
        foreach (var state in _states.Where(Directory.Exists))
        {
            Directory.Delete(state, recursive: true);
        }

        Directory.Delete(_models, recursive: true);
    }

    [Fact]
    public async Task An_assignment_is_downloaded_verified_installed_checked_switched_to_and_confirmed()
    {
        await using var rig = await StartAsync();
        var factory = rig.Detectors.Current;
        var sha = TestModelSigner.Sha256Of(ModelB);

        await rig.DeliverAsync(Assign("a-1", ModelB));
        var outcome = await rig.WaitForOutcomeAsync("a-1");

        Assert.Equal("activated", outcome.Stage);
        Assert.True(outcome.Accepted);
        Assert.Equal(["downloading", "verified", "activated"], rig.Acks.Select(ack => ack.Stage));
        Assert.All(rig.Acks, ack => Assert.Equal(sha, ack.Sha256));
        Assert.Equal(sha, outcome.ActiveSha256);
        Assert.Equal(sha, rig.Detectors.Model.Sha256);
        Assert.Equal(ModelOrigin.Slot, rig.Detectors.Model.Origin);
        Assert.Equal(sha, rig.Store.State.Active!.Sha256);
        Assert.True(rig.Store.State.ActiveConfirmed);
        Assert.Null(rig.Store.State.Candidate);
        Assert.True(factory.IsDisposed, "the replaced detector is disposed once confirmed");
        Assert.Empty(Directory.GetFiles(rig.Store.DownloadsFolder));
    }

    [Fact]
    public async Task A_finished_assignment_seen_again_is_not_redone_also_after_a_restart()
    {
        string state;
        await using (var rig = await StartAsync())
        {
            state = rig.StateDirectory;
            await rig.DeliverAsync(Assign("a-2", ModelB));
            await rig.WaitForOutcomeAsync("a-2");
            await rig.DeliverAsync(Assign("a-2", ModelB));
            Assert.True(await Eventually.TrueAsync(() => rig.Service.Skipped == 1, TimeSpan.FromSeconds(10)));
            await Task.Delay(200);
            Assert.Equal(3, rig.Acks.Count);
        }

        var requests = _server.Requests.Count;
        await using (var restarted = await StartAsync(state))
        {
            Assert.Equal(TestModelSigner.Sha256Of(ModelB), restarted.Detectors.Model.Sha256);
            await restarted.DeliverAsync(Assign("a-2", ModelB));
            Assert.True(await Eventually.TrueAsync(() => restarted.Service.Skipped == 1, TimeSpan.FromSeconds(10)));
            Assert.Empty(restarted.Acks);
            Assert.Equal(requests, _server.Requests.Count);
        }
    }

    [Fact]
    public async Task Unsigned_foreign_tampered_and_mismatched_models_are_each_refused_with_their_code()
    {
        await using var rig = await StartAsync();
        var factorySha = rig.Detectors.Model.Sha256;
        var manifest = TestModelSigner.ManifestFor(ModelB);
        var url = _server.ServeFile("b.onnx", ModelB);
        using var stranger = new TestModelSigner();

        // Tampered artifact: same size, one byte changed. Oversized artifact: more bytes than the manifest says.
        var tampered = File.ReadAllBytes(ModelB);
        tampered[^10] ^= 0x01;
        var tamperedUrl = _server.ServeBytes("tampered.onnx", tampered);
        var oversizedUrl = _server.ServeBytes("oversized.onnx", [.. File.ReadAllBytes(ModelB), 0, 0, 0]);
        var editedManifest = Encoding.UTF8.GetString(_signer.SignedJson(manifest)).Replace("\"1.0.0\"", "\"1.0.1\"", StringComparison.Ordinal);

        var cases = new (string Id, byte[] ManifestJson, Uri Url, string Code)[]
        {
            ("unsigned", TestModelSigner.UnsignedJson(manifest), url, ManifestRejection.Unsigned),
            ("foreign", stranger.SignedJson(manifest), url, ManifestRejection.UnknownKey),
            ("edited-manifest", Encoding.UTF8.GetBytes(editedManifest), url, ManifestRejection.BadSignature),
            ("tampered-artifact", _signer.SignedJson(manifest), tamperedUrl, ManifestRejection.HashMismatch),
            ("oversized-artifact", _signer.SignedJson(manifest), oversizedUrl, ManifestRejection.SizeMismatch),
        };
        foreach (var (id, json, at, code) in cases)
        {
            await rig.DeliverAsync(TestModelSigner.Assignment(id, manifest.Model.Sha256, [TestModelSigner.Variant(json, at)]));
            var outcome = await rig.WaitForOutcomeAsync(id);

            Assert.Equal(("rejected", false, code), (outcome.Stage, outcome.Accepted, outcome.ReasonCode));
            Assert.Equal(manifest.Model.Sha256, outcome.Sha256);
            Assert.NotEmpty(outcome.Error);
            Assert.Equal(factorySha, outcome.ActiveSha256);
            Assert.Equal(factorySha, rig.Detectors.Model.Sha256);
        }

        // Nothing refused was installed, and no half download is left behind.
        Assert.Null(rig.Store.State.Candidate);
        Assert.Empty(Directory.GetDirectories(rig.Store.SlotsFolder));
        Assert.Empty(Directory.GetFiles(rig.Store.DownloadsFolder));
    }

    [Fact]
    public async Task A_selection_that_names_no_variant_and_a_malformed_payload_are_refused_and_counted()
    {
        await using var rig = await StartAsync();
        await rig.DeliverAsync(TestModelSigner.Assignment("no-such", new string('f', 64), [Variant(ModelB)]));
        var outcome = await rig.WaitForOutcomeAsync("no-such");
        Assert.Equal(("rejected", ModelReasonCodes.Malformed), (outcome.Stage, outcome.ReasonCode));

        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0x7F, 0x01];
        await rig.DeliverAsync(garbage);
        await rig.DeliverAsync(garbage);
        var plainHttp = Assign("plain-http", ModelB);
        rig.Options.Models.AllowHttp = false;
        await rig.DeliverAsync(plainHttp);

        Assert.Equal(3, rig.Handler.Malformed);
        var refusals = rig.Acks.Where(ack => ack.Stage == "rejected" && ack.ReasonCode == ModelReasonCodes.Malformed).ToList();
        Assert.Equal(3, refusals.Count);
        Assert.Contains("not a valid ModelAssigned", refusals[1].Error, StringComparison.Ordinal);
        Assert.Equal("plain-http", refusals[2].AssignmentId);
        Assert.Contains("AllowHttp", refusals[2].Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_with_the_wrong_output_shape_is_rolled_back_before_it_runs_a_frame()
    {
        await using var rig = await StartAsync();
        var factorySha = rig.Detectors.Model.Sha256;
        var wrong = TinyModels.WriteWrongShape(_models, "wrong.onnx");

        await rig.DeliverAsync(Assign("shape", wrong));
        var outcome = await rig.WaitForOutcomeAsync("shape");

        Assert.Equal(("rolled-back", false, ModelReasonCodes.HealthShape), (outcome.Stage, outcome.Accepted, outcome.ReasonCode));
        Assert.Equal(factorySha, rig.Detectors.Model.Sha256);
        Assert.Equal(0, rig.Detectors.Switches);
        Assert.Equal((TestModelSigner.Sha256Of(wrong), SlotStatus.Failed), (rig.Store.State.Candidate!.Sha256, rig.Store.State.Candidate.Status));
        Assert.Equal(TestModelSigner.Sha256Of(wrong), outcome.CandidateSha256);
    }

    [Fact]
    public async Task A_model_slower_than_the_assignment_bound_is_rolled_back()
    {
        await using var rig = await StartAsync();
        var factorySha = rig.Detectors.Model.Sha256;
        var manifest = TestModelSigner.ManifestFor(SharedData.YoloxNano416);
        var url = _server.ServeFile("yolox.onnx", SharedData.YoloxNano416);

        await rig.DeliverAsync(TestModelSigner.Assignment(
            "slow", manifest.Model.Sha256, [TestModelSigner.Variant(_signer.SignedJson(manifest), url)], maxLatencyMs: 0.5f));
        var outcome = await rig.WaitForOutcomeAsync("slow");

        Assert.Equal(("rolled-back", ModelReasonCodes.HealthLatency), (outcome.Stage, outcome.ReasonCode));
        Assert.Contains("over the bound of 0.5 ms", outcome.Error, StringComparison.Ordinal);
        Assert.Equal(factorySha, rig.Detectors.Model.Sha256);
    }

    [Fact]
    public async Task A_signed_file_that_is_not_a_model_is_refused_as_load_failed()
    {
        await using var rig = await StartAsync();
        var notModel = Path.Combine(_models, "not-a-model.onnx");
        File.WriteAllBytes(notModel, Encoding.ASCII.GetBytes(new string('x', 5000)));

        await rig.DeliverAsync(Assign("garbage", notModel));
        var outcome = await rig.WaitForOutcomeAsync("garbage");

        Assert.Equal(("rejected", ModelReasonCodes.LoadFailed), (outcome.Stage, outcome.ReasonCode));
        Assert.Equal(SlotStatus.Failed, rig.Store.State.Candidate!.Status);
    }

    [Fact]
    public async Task Without_a_selection_every_variant_is_benchmarked_then_the_selected_one_is_installed_without_a_new_download()
    {
        await using var rig = await StartAsync();
        var fp32 = TestModelSigner.ManifestFor(ModelB, precision: "fp32");
        var int8 = TestModelSigner.ManifestFor(ModelC, precision: "int8");
        ModelVariant[] variants =
        [
            TestModelSigner.Variant(_signer.SignedJson(fp32), _server.ServeFile("fp32.onnx", ModelB)),
            TestModelSigner.Variant(_signer.SignedJson(int8), _server.ServeFile("int8.onnx", ModelC)),
        ];

        await rig.DeliverAsync(TestModelSigner.Assignment("bench", "", variants));
        var benchmarked = await rig.WaitForOutcomeAsync("bench");

        Assert.Equal(("benchmarked", true), (benchmarked.Stage, benchmarked.Accepted));
        Assert.Equal([fp32.Model.Sha256, int8.Model.Sha256], benchmarked.Benchmarks.Select(b => b.Sha256));
        Assert.Equal(["fp32", "int8"], benchmarked.Benchmarks.Select(b => b.Precision));
        Assert.All(benchmarked.Benchmarks, b => Assert.True(b.Runs == 5 && b.P50Ms > 0 && b.P95Ms >= b.P50Ms, b.ToString()));
        Assert.Equal(CpuFeatures.Describe(), benchmarked.CpuFeatures);
        Assert.NotEmpty(benchmarked.CpuFeatures);
        Assert.Equal(2, rig.Acks.Count(ack => ack.Stage == "downloading"));
        Assert.Equal(ModelOrigin.Factory, rig.Detectors.Model.Origin);

        // The cloud chooses and republishes the same assignment with a selection: the verified download is reused.
        var downloads = _server.Requests.Count;
        await rig.DeliverAsync(TestModelSigner.Assignment("bench", int8.Model.Sha256, variants));
        var activated = await rig.WaitForAckAsync(ack => ack.AssignmentId == "bench" && ack.Stage == "activated");

        Assert.Equal(int8.Model.Sha256, activated.ActiveSha256);
        Assert.Equal(downloads, _server.Requests.Count);
        Assert.Equal(int8.Model.Sha256, rig.Detectors.Model.Sha256);
    }

    [Fact]
    public async Task A_variant_refused_while_another_runs_is_no_refusal_of_the_assignment_which_then_activates_the_one_that_ran()
    {
        await using var rig = await StartAsync();
        var fp32 = TestModelSigner.ManifestFor(ModelB, precision: "fp32");
        var notModel = Path.Combine(_models, "int8-not-a-model.onnx");
        File.WriteAllBytes(notModel, Encoding.ASCII.GetBytes(new string('x', 5000)));
        var int8 = TestModelSigner.ManifestFor(notModel, precision: "int8");
        ModelVariant[] variants =
        [
            TestModelSigner.Variant(_signer.SignedJson(fp32), _server.ServeFile("fp32.onnx", ModelB)),
            TestModelSigner.Variant(_signer.SignedJson(int8), _server.ServeFile("int8.onnx", notModel)),
        ];

        await rig.DeliverAsync(TestModelSigner.Assignment("half", "", variants));
        var benchmarked = await rig.WaitForAckAsync(ack => ack.AssignmentId == "half" && ack.Stage == "benchmarked");

        // The INT8 file verifies but does not load: the report carries FP32's figures and names INT8's reason.
        Assert.True(benchmarked.Accepted);
        Assert.Equal([fp32.Model.Sha256], benchmarked.Benchmarks.Select(b => b.Sha256));
        Assert.Contains(ModelReasonCodes.LoadFailed, benchmarked.Error, StringComparison.Ordinal);
        Assert.Contains(int8.Model.Sha256[..12], benchmarked.Error, StringComparison.Ordinal);

        // The cloud chooses FP32 from those figures; the device installs and activates it, and no refusal ever went out.
        await rig.DeliverAsync(TestModelSigner.Assignment("half", fp32.Model.Sha256, variants));
        var activated = await rig.WaitForAckAsync(ack => ack.AssignmentId == "half" && ack.Stage == "activated");
        Assert.Equal(fp32.Model.Sha256, activated.ActiveSha256);
        Assert.DoesNotContain(rig.Acks, ack => !ack.Accepted);
    }

    [Fact]
    public async Task When_every_variant_is_refused_each_refusal_reaches_the_cloud_and_nothing_claims_a_benchmark()
    {
        await using var rig = await StartAsync();
        var fp32 = TestModelSigner.ManifestFor(ModelB, precision: "fp32");
        var int8 = TestModelSigner.ManifestFor(ModelC, precision: "int8");
        var tampered = Path.Combine(_models, "int8-tampered.onnx");
        File.Copy(ModelC, tampered);
        Corrupt(tampered);
        ModelVariant[] variants =
        [
            TestModelSigner.Variant(TestModelSigner.UnsignedJson(fp32), _server.ServeFile("fp32.onnx", ModelB)),
            TestModelSigner.Variant(_signer.SignedJson(int8), _server.ServeFile("int8.onnx", tampered)),
        ];

        await rig.DeliverAsync(TestModelSigner.Assignment("none", "", variants));
        await rig.WaitForAckAsync(ack => ack.AssignmentId == "none" && ack.Sha256 == int8.Model.Sha256 && !ack.Accepted);
        var refusals = rig.Acks.Where(ack => ack.AssignmentId == "none" && !ack.Accepted).ToList();

        Assert.Equal(
            [("rejected", ManifestRejection.Unsigned, fp32.Model.Sha256), ("rejected", ManifestRejection.HashMismatch, int8.Model.Sha256)],
            refusals.Select(ack => (ack.Stage, ack.ReasonCode, ack.Sha256)));
        Assert.DoesNotContain(rig.Acks, ack => ack.Stage == "benchmarked");
        Assert.Equal(ModelOrigin.Factory, rig.Detectors.Model.Origin);

        // Finished (refused): the same assignment seen again is not redone.
        var before = rig.Acks.Count;
        await rig.DeliverAsync(TestModelSigner.Assignment("none", "", variants));
        Assert.True(await Eventually.TrueAsync(() => rig.Service.Skipped == 1, TimeSpan.FromSeconds(30)));
        Assert.Equal(before, rig.Acks.Count);
    }

    [Fact]
    public async Task A_shadow_assignment_installs_into_slot_B_and_leaves_slot_A_running()
    {
        await using var rig = await StartAsync();
        var factorySha = rig.Detectors.Model.Sha256;

        await rig.DeliverAsync(Assign("shadow", ModelB, slot: "shadow"));
        var outcome = await rig.WaitForOutcomeAsync("shadow");

        Assert.Equal(("shadowing", true), (outcome.Stage, outcome.Accepted));
        Assert.Equal((factorySha, TestModelSigner.Sha256Of(ModelB)), (outcome.ActiveSha256, outcome.CandidateSha256));
        Assert.Equal(factorySha, rig.Detectors.Model.Sha256);
        Assert.Equal(SlotStatus.Shadow, rig.Store.State.Candidate!.Status);

        // Health-checked and handed to shadow mode, not switched to.
        Assert.Equal(TestModelSigner.Sha256Of(ModelB), rig.Shadow.Model?.Sha256);
        var running = rig.Shadow.Acquire()!;
        Assert.False(running.IsDisposed);
        YoloFleet.EdgeAgent.Shadow.ShadowCandidate.Release(running);
    }

    [Fact]
    public async Task A_restart_resumes_shadowing_the_candidate_once_it_verifies_again_and_refuses_it_when_it_does_not()
    {
        string state;
        var shadowSha = TestModelSigner.Sha256Of(ModelB);
        await using (var rig = await StartAsync())
        {
            state = rig.StateDirectory;
            await rig.DeliverAsync(Assign("shadow-r", ModelB, slot: "shadow"));
            Assert.Equal("shadowing", (await rig.WaitForOutcomeAsync("shadow-r")).Stage);
        }

        await using (var restarted = await StartAsync(state))
        {
            Assert.True(await Eventually.TrueAsync(() => restarted.Shadow.Model is not null, TimeSpan.FromSeconds(30)), "the shadow candidate was not restored");
            Assert.Equal((shadowSha, ModelOrigin.Slot), (restarted.Shadow.Model!.Sha256, restarted.Shadow.Model.Origin));
            Assert.Equal(TestModelSigner.Sha256Of(Factory), restarted.Detectors.Model.Sha256);
            Assert.Equal(SlotStatus.Shadow, restarted.Store.State.Candidate!.Status);

            // The retained assignment seen again is not redone (nor reported again).
            await restarted.DeliverAsync(Assign("shadow-r", ModelB, slot: "shadow"));
            Assert.True(await Eventually.TrueAsync(() => restarted.Service.Skipped == 1, TimeSpan.FromSeconds(10)));
            Assert.Empty(restarted.Acks);
            Corrupt(restarted.Store.ModelPathOf(restarted.Store.State.Candidate));
        }

        // Changed on disk while the agent was down: not run, marked failed, and the cloud is told why.
        await using (var tampered = await StartAsync(state))
        {
            var refused = await tampered.WaitForAckAsync(ack => ack.Stage == "rejected");
            Assert.Equal(("shadow-r", shadowSha, ManifestRejection.HashMismatch, false), (refused.AssignmentId, refused.Sha256, refused.ReasonCode, refused.Accepted));
            Assert.Null(tampered.Shadow.Model);
            Assert.Equal(SlotStatus.Failed, tampered.Store.State.Candidate!.Status);
        }
    }

    [Fact]
    public async Task An_active_assignment_of_the_running_model_stops_the_shadow_candidate_for_good()
    {
        string state;
        await using (var rig = await StartAsync())
        {
            state = rig.StateDirectory;
            await rig.DeliverAsync(Assign("shadow-s", ModelB, slot: "shadow"));
            await rig.WaitForOutcomeAsync("shadow-s");
            Assert.NotNull(rig.Shadow.Model);

            // As a rollout's roll-back sends a device that only shadowed the candidate back to what it runs.
            await rig.DeliverAsync(Assign("back", Factory));
            Assert.Equal("activated", (await rig.WaitForOutcomeAsync("back")).Stage);
            Assert.Null(rig.Shadow.Model);
            Assert.Equal(SlotStatus.Installed, rig.Store.State.Candidate!.Status);
        }

        await using (var restarted = await StartAsync(state))
        {
            await restarted.DeliverAsync(Assign("back", Factory));
            Assert.True(await Eventually.TrueAsync(() => restarted.Service.Skipped == 1, TimeSpan.FromSeconds(10)));
            Assert.Null(restarted.Shadow.Model);
        }
    }

    [Fact]
    public async Task A_newer_assignment_supersedes_one_still_downloading()
    {
        await using var rig = await StartAsync(configure: options =>
        {
            options.Models.DownloadAttempts = 50;
            options.Models.DownloadRetryDelay = TimeSpan.FromMilliseconds(200);
        });
        var manifest = TestModelSigner.ManifestFor(ModelC);
        _server.Refuse("busy.onnx", HttpStatusCode.ServiceUnavailable);
        await rig.DeliverAsync(TestModelSigner.Assignment("old", manifest.Model.Sha256, [TestModelSigner.Variant(_signer.SignedJson(manifest), _server.Url("busy.onnx"))]));
        await rig.WaitForAckAsync(ack => ack.AssignmentId == "old" && ack.Stage == "downloading");

        await rig.DeliverAsync(Assign("new", ModelB));
        var outcome = await rig.WaitForOutcomeAsync("new");

        Assert.Equal("activated", outcome.Stage);
        Assert.Equal(1, rig.Service.Superseded);
        Assert.DoesNotContain(rig.Acks, ack => ack.AssignmentId == "old" && ack.Stage != "downloading");
        Assert.Equal(TestModelSigner.Sha256Of(ModelB), rig.Detectors.Model.Sha256);
    }

    [Fact]
    public async Task At_start_a_slot_A_that_no_longer_verifies_falls_back_to_slot_B_and_then_to_the_factory_model()
    {
        string state;
        SlotEntry b, c;
        await using (var rig = await StartAsync())
        {
            state = rig.StateDirectory;
            await rig.DeliverAsync(Assign("to-b", ModelB));
            await rig.WaitForOutcomeAsync("to-b");
            await rig.DeliverAsync(Assign("to-c", ModelC));
            await rig.WaitForOutcomeAsync("to-c");
            (c, b) = (rig.Store.State.Active!, rig.Store.State.Candidate!);
            Assert.Equal((SlotStatus.Active, SlotStatus.Previous), (c.Status, b.Status));
            Corrupt(rig.Store.ModelPathOf(c));
        }

        await using (var restarted = await StartAsync(state))
        {
            Assert.Equal(b.Sha256, restarted.Detectors.Model.Sha256);
            var fallback = await restarted.WaitForAckAsync(ack => ack.Stage == "rolled-back");
            Assert.Equal(("to-c", c.Sha256, ManifestRejection.HashMismatch, b.Sha256), (fallback.AssignmentId, fallback.Sha256, fallback.ReasonCode, fallback.ActiveSha256));
            Assert.Equal(b.Sha256, restarted.Store.State.Active!.Sha256);
            Corrupt(restarted.Store.ModelPathOf(restarted.Store.State.Active));
        }

        await using (var again = await StartAsync(state))
        {
            Assert.Equal(ModelOrigin.Factory, again.Detectors.Model.Origin);
            Assert.Equal(TestModelSigner.Sha256Of(Factory), again.Detectors.Model.Sha256);
            Assert.Null(again.Store.State.Active);
            await again.WaitForAckAsync(ack => ack.Stage == "rolled-back" && ack.Sha256 == b.Sha256);
        }
    }

    [Fact]
    public async Task A_model_switched_to_but_not_confirmed_is_checked_again_at_start_and_given_up_after_too_many_starts()
    {
        string state;
        SlotEntry b;
        await using (var rig = await StartAsync())
        {
            state = rig.StateDirectory;
            await rig.DeliverAsync(Assign("unconfirmed", ModelB));
            await rig.WaitForOutcomeAsync("unconfirmed");
            b = rig.Store.State.Active!;

            // As if the agent died between the switch and its confirmation.
            rig.Store.Save(rig.Store.State with { ActiveConfirmed = false });
            File.Delete(rig.Store.AssignmentPath);
        }

        // A start on it re-runs its health check, runs it, and the frames (none here: the self-test) confirm it.
        await using (var restarted = await StartAsync(state))
        {
            Assert.Equal(b.Sha256, restarted.Detectors.Model.Sha256);
            var confirmed = await restarted.WaitForAckAsync(ack => ack.Stage == "activated");
            Assert.Equal(("unconfirmed", b.Sha256), (confirmed.AssignmentId, confirmed.Sha256));
            Assert.True(restarted.Store.State.ActiveConfirmed);

            // Now as if it had taken the process down at each of the allowed starts.
            restarted.Store.Save(restarted.Store.State with { ActiveConfirmed = false, UnconfirmedStarts = restarted.Options.Models.MaxUnconfirmedStarts });
        }

        await using (var gaveUp = await StartAsync(state))
        {
            Assert.Equal(ModelOrigin.Factory, gaveUp.Detectors.Model.Origin);
            var fallback = await gaveUp.WaitForAckAsync(ack => ack.Stage == "rolled-back");
            Assert.Equal(ModelReasonCodes.HealthCrash, fallback.ReasonCode);
            Assert.Equal((b.Sha256, SlotStatus.Failed), (gaveUp.Store.State.Candidate!.Sha256, gaveUp.Store.State.Candidate.Status));
        }
    }

    [Fact]
    public async Task Without_trusted_keys_every_assignment_is_refused_and_the_factory_model_runs()
    {
        await using var rig = await StartAsync(configure: options => options.Models.TrustedKeys = []);

        await rig.DeliverAsync(Assign("untrusted", ModelB));
        var outcome = await rig.WaitForOutcomeAsync("untrusted");

        Assert.Equal(("rejected", ManifestRejection.UnknownKey), (outcome.Stage, outcome.ReasonCode));
        Assert.Equal(ModelOrigin.Factory, rig.Detectors.Model.Origin);
    }

    private async Task<AssignmentRig> StartAsync(string? state = null, Action<EdgeAgentOptions>? configure = null)
    {
        var rig = new AssignmentRig(Factory, _signer, state, configure);
        _states.Add(rig.StateDirectory);
        await rig.StartAsync();
        return rig;
    }

    private ModelVariant Variant(string modelPath, string precision = "fp32")
    {
        var manifest = TestModelSigner.ManifestFor(modelPath, precision: precision);
        return TestModelSigner.Variant(_signer.SignedJson(manifest), _server.ServeFile(Path.GetFileName(modelPath), modelPath));
    }

    private ModelAssigned Assign(string id, string modelPath, string slot = "active") =>
        TestModelSigner.Assignment(id, TestModelSigner.Sha256Of(modelPath), [Variant(modelPath)], slot);

    private static void Corrupt(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(path, bytes);
    }
}
