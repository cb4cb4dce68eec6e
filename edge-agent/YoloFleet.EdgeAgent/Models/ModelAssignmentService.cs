using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// Carries out model assignments, one at a time, off MQTTnet's receive loop (docs/edge-agent.md has the state machine):
/// <list type="number">
/// <item>verify each variant's signed manifest against the pinned keys;</item>
/// <item>with no selection: download, verify and benchmark every variant, report "benchmarked" and wait for the
/// cloud's choice; with one: download it (resuming after a cut), check its size and SHA-256 ("verified");</item>
/// <item>install it in slot B, load it, and health-check it beside the running model;</item>
/// <item>switch the pipeline to it between frames and write slot A; confirm it on the next frames (latency), else
/// switch back by itself ("rolled-back"); confirmed, report "activated".</item>
/// </list>
/// A newer assignment cancels one still downloading or verifying; once the switch has begun it completes first. An
/// assignment already finished (recorded on disk) is not redone when its retained message comes again after a
/// reconnect or a restart. Each stage reached and each refusal is acknowledged to the cloud.
/// </summary>
public sealed partial class ModelAssignmentService(
    EdgeAgentOptions options,
    ModelSlotStore store,
    ManifestTrust trust,
    ModelDownloader downloader,
    ModelHealthCheck health,
    RunningDetector detectors,
    ActiveModelLoader loader,
    AssignmentReporter reporter,
    ThrottleMonitor throttle,
    TimeProvider time,
    ILogger<ModelAssignmentService> logger,
    YoloFleet.EdgeAgent.Shadow.ShadowCandidate? shadow = null) : BackgroundService
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _signal = new(0);
    private ModelAssigned? _pending;
    private string? _latestKey;
    private string? _inProgressKey;
    private CancellationTokenSource? _work;
    private long _completed;
    private long _superseded;
    private long _skipped;

    private ModelOptions Models => options.Models;

    /// <summary>Assignments finished (any final stage) since start.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Assignments cancelled by a newer one.</summary>
    public long Superseded => Interlocked.Read(ref _superseded);

    /// <summary>Assignments seen again while under way or after they were finished, and not redone.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>Queues an assignment (the handler calls it); a newer one cancels one in progress before its switch.</summary>
    public void Submit(ModelAssigned assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var key = KeyOf(assignment);
        lock (_gate)
        {
            _latestKey = key;
            if (key == _inProgressKey && _work is { IsCancellationRequested: false })
            {
                // The same assignment again (a reconnect redelivers the retained message): it is already under way.
                Interlocked.Increment(ref _skipped);
                _pending = null;
                return;
            }

            _pending = assignment;
            _work?.Cancel();
        }

        _signal.Release();
    }

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        foreach (var fallback in loader.Fallbacks)
        {
            reporter.Report(fallback.AssignmentId, ModelStages.RolledBack, accepted: false, fallback.Sha256, fallback.ReasonCode, fallback.Detail);
            if (fallback.AssignmentId.Length > 0)
            {
                Record(fallback.AssignmentId, fallback.Sha256, ModelAssignmentDecoder.ActiveSlot, ModelStages.RolledBack);
            }
        }

        RestoreShadow();
        if (store.State is { Active: { } active, ActiveConfirmed: false })
        {
            // A restart between the switch and its confirmation: the loader re-checked it; the frames confirm it now.
            try
            {
                await ConfirmAsync(active, previous: null, Bound(active.MaxLatencyMs), stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // Left unconfirmed: the next start checks it again, and gives it up after MaxUnconfirmedStarts.
                LogFailed(active.AssignmentId, ex);
            }
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            await _signal.WaitAsync(stoppingToken);
            ModelAssigned? next;
            CancellationToken work;
            lock (_gate)
            {
                next = _pending;
                _pending = null;
                if (next is null)
                {
                    continue;
                }

                _inProgressKey = KeyOf(next);
                _work = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                work = _work.Token;
            }

            var retry = false;
            try
            {
                retry = await ProcessAsync(next, work, stoppingToken);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _superseded);
                LogSuperseded(next.AssignmentId);
            }
            catch (IOException ex)
            {
                LogFailed(next.AssignmentId, ex);
                reporter.Report(next.AssignmentId, ModelStages.Failed, accepted: false, next.SelectedSha256, ModelReasonCodes.Disk, ex.Message);
                retry = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // A bug must not stop the agent (the pipeline carries on with the model it runs); the cloud hears of it.
                LogFailed(next.AssignmentId, ex);
                reporter.Report(next.AssignmentId, ModelStages.Failed, accepted: false, next.SelectedSha256, ModelReasonCodes.Internal, ex.Message);
            }
            finally
            {
                lock (_gate)
                {
                    _inProgressKey = null;
                    _work?.Dispose();
                    _work = null;
                }
            }

            if (retry)
            {
                _ = RetryLaterAsync(next, stoppingToken);
            }
        }
    }

    /// <summary>Carries out one assignment; true when it failed in a way that may pass (it is then tried again later).</summary>
    private async Task<bool> ProcessAsync(ModelAssigned assignment, CancellationToken work, CancellationToken stopping)
    {
        var key = KeyOf(assignment);
        if (store.LastAssignment is { } last && KeyOf(last) == key)
        {
            Interlocked.Increment(ref _skipped);
            LogAlreadyDone(assignment.AssignmentId, last.Outcome);
            return false;
        }

        LogAssigned(assignment.AssignmentId, assignment.ModelVersion, assignment.Variants.Count, assignment.Slot,
            assignment.SelectedSha256.Length > 0 ? assignment.SelectedSha256[..12] : "(benchmark first)");
        var variants = assignment.Variants.Select(CheckVariant).ToList();
        store.PruneDownloads([.. variants.Select(variant => variant.ClaimedSha256).Where(sha => sha.Length > 0)]);
        if (assignment.SelectedSha256.Length == 0)
        {
            return await BenchmarkAsync(assignment, variants, work);
        }

        var selected = variants.FirstOrDefault(variant => variant.ClaimedSha256 == assignment.SelectedSha256);
        if (selected is null)
        {
            Finish(assignment, ModelStages.Rejected, ModelReasonCodes.Malformed, $"selected_sha256 {assignment.SelectedSha256[..12]} names none of the {variants.Count} variants");
            return false;
        }

        if (Refusal(selected) is { } refused)
        {
            Finish(assignment, refused.Stage, refused.Code, refused.Detail);
            return false;
        }

        var manifest = selected.Manifest!;
        var bound = Bound(assignment.MaxLatencyMs);
        if (assignment.Slot == ModelAssignmentDecoder.ActiveSlot && detectors.Model.Sha256 == selected.ClaimedSha256 && store.State.ActiveConfirmed)
        {
            // Told to run what it runs (a rollout sending back a device that only shadowed the candidate): the shadow
            // candidate stops too; it stays installed in slot B.
            StopShadow();
            Finish(assignment, ModelStages.Activated, "", $"{manifest.Name}@{manifest.Version} is already running");
            return false;
        }

        var obtained = await ObtainAsync(assignment, selected, work);
        if (obtained.Refusal is { } failure)
        {
            if (failure.Stage == ModelStages.Failed)
            {
                reporter.Report(assignment.AssignmentId, failure.Stage, accepted: false, selected.ClaimedSha256, failure.Code, failure.Detail);
                return true;
            }

            Finish(assignment, failure.Stage, failure.Code, failure.Detail);
            return false;
        }

        // From here on the change is carried through (or undone) whole: a newer assignment waits for it.
        work.ThrowIfCancellationRequested();
        var entry = obtained.Installed ?? store.Install(obtained.DownloadedPath!, selected.Variant.ManifestJson.Span, manifest, assignment.AssignmentId, trust);
        entry = entry with { Status = SlotStatus.Installed, AssignmentId = assignment.AssignmentId, MaxLatencyMs = bound };
        // Slot B is taken for this assignment: a candidate running in shadow stops (a shadow assignment starts it again).
        shadow?.Set(null);
        if (store.State.Active?.Sha256 != entry.Sha256)
        {
            store.Save(store.State with { Candidate = entry, UpdatedAt = time.GetUtcNow() }, SwapCrashHook.MidStateRename);
        }

        store.PruneDownloads([.. variants.Select(variant => variant.ClaimedSha256).Where(sha => sha != entry.Sha256 && sha.Length > 0)]);
        Detector detector;
        try
        {
            detector = Detector.Open(store.ModelPathOf(entry), options.Detection.ToDetectorOptions(), manifest);
        }
        catch (ModelLoadException ex)
        {
            MarkCandidateFailed(entry);
            Finish(assignment, ModelStages.Rejected, ModelReasonCodes.LoadFailed, ex.Message);
            return false;
        }

        if (assignment.Slot == ModelAssignmentDecoder.ShadowSlot)
        {
            return StartShadow(assignment, entry, detector, bound);
        }

        SwapCrashHook.At(SwapCrashHook.BeforeHealthCheck);
        var result = health.Check(detector, bound);
        if (!result.Passed)
        {
            detector.Dispose();
            MarkCandidateFailed(entry);
            LogHealthFailed(entry.Version, result.ReasonCode, result.Detail);
            Finish(assignment, ModelStages.RolledBack, result.ReasonCode,
                $"{entry.Version} failed its health check before the switch, so {detectors.Model.Version} keeps running: {result.Detail}");
            return false;
        }

        LogHealthPassed(entry.Version, result.Detail);
        var previousEntry = store.State.Active;
        store.Save(new SlotState
        {
            Active = entry with { Status = SlotStatus.Active },
            ActiveConfirmed = false,
            Candidate = previousEntry is null ? null : previousEntry with { Status = SlotStatus.Previous },
            UpdatedAt = time.GetUtcNow(),
        });
        SwapCrashHook.At(SwapCrashHook.AfterSwitch);
        var previous = detectors.SwitchTo(new DetectorGeneration(
            detector, new RunningModel(entry.Sha256, detector.Model.Version, ModelOrigin.Slot, detector.Model.Path)));
        LogSwitched(previous.Model.Version, entry.Version);
        await ConfirmAsync(entry, previous, bound, stopping);
        return false;
    }

    /// <summary>
    /// The health check after the switch: the first frames on the new model (or, on an idle source, the self-test that
    /// already passed) must keep its median under the bound. Confirmed, slot A is written as confirmed and the previous
    /// detector retired; otherwise the agent switches back by itself and reports the rollback.
    /// </summary>
    private async Task ConfirmAsync(SlotEntry entry, DetectorGeneration? previous, double bound, CancellationToken stopping)
    {
        var generation = detectors.Current;
        var deadline = time.GetTimestamp() + (long)(Models.ConfirmTimeout.TotalSeconds * time.TimestampFrequency);
        while (generation.Frames < Models.ConfirmFrames && time.GetTimestamp() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, stopping);
        }

        var samples = generation.FrameMilliseconds();
        var median = samples.Count > 0 ? LatencySummary.Of([.. samples]).P50 : 0;
        if (samples.Count == 0 || median <= bound)
        {
            store.Save(store.State with { ActiveConfirmed = true, UnconfirmedStarts = 0, UpdatedAt = time.GetUtcNow() });
            if (previous is not null)
            {
                detectors.Retire(previous);
            }

            LogConfirmed(entry.Version, samples.Count, median);
            Finish(entry.AssignmentId, entry.Sha256, ModelAssignmentDecoder.ActiveSlot, ModelStages.Activated, "",
                samples.Count > 0
                    ? $"{entry.Version} confirmed on {samples.Count} frames (median {median:F1} ms)"
                    : $"{entry.Version} confirmed by its self-test (no frames within {Models.ConfirmTimeout.TotalSeconds:F0} s)");
            return;
        }

        // Too slow on real frames: back to the previous model (still open, unless the agent restarted since).
        var (fallback, fallbackEntry) = previous is not null
            ? (previous, store.State.Candidate is { Status: SlotStatus.Previous } candidate ? candidate : null)
            : loader.OpenFallback();
        detectors.SwitchTo(fallback);
        detectors.Retire(generation);
        store.Save(new SlotState
        {
            Active = fallbackEntry is null ? null : fallbackEntry with { Status = SlotStatus.Active },
            Candidate = entry with { Status = SlotStatus.Failed },
            UpdatedAt = time.GetUtcNow(),
        });
        var detail = $"{entry.Version}'s median of {median:F1} ms over its first {samples.Count} frames is over the bound of {bound:G4} ms; back on {fallback.Model.Version}";
        LogHealthFailed(entry.Version, ModelReasonCodes.HealthLatency, detail);
        Finish(entry.AssignmentId, entry.Sha256, ModelAssignmentDecoder.ActiveSlot, ModelStages.RolledBack, ModelReasonCodes.HealthLatency, detail);
    }

    /// <summary>
    /// No selection: every variant is fetched, verified and timed here, and the figures go to the cloud. A variant this
    /// device refuses while another one runs is not a refusal of the assignment (the cloud chooses among the variants
    /// that ran, and the "benchmarked" report names the others); only when every variant is refused do the refusals go
    /// to the cloud, each with its reason.
    /// </summary>
    private async Task<bool> BenchmarkAsync(ModelAssigned assignment, List<VariantCheck> variants, CancellationToken work)
    {
        var benchmarks = new List<VariantBenchmark>();
        var refusals = new List<(VariantCheck Variant, Refused Refusal)>();
        foreach (var variant in variants)
        {
            var refused = Refusal(variant);
            Obtained? obtained = null;
            if (refused is null)
            {
                obtained = await ObtainAsync(assignment, variant, work);
                refused = obtained.Refusal;
            }

            if (refused is not null)
            {
                LogVariantRefused(assignment.AssignmentId, variant.ClaimedSha256, refused.Stage, refused.Code, refused.Detail);
                refusals.Add((variant, refused));
                continue;
            }

            var path = obtained!.Installed is { } entry ? store.ModelPathOf(entry) : obtained.DownloadedPath!;
            Detector detector;
            try
            {
                detector = Detector.Open(path, options.Detection.ToDetectorOptions(), variant.Manifest);
            }
            catch (ModelLoadException ex)
            {
                var loadFailed = new Refused(ModelStages.Rejected, ModelReasonCodes.LoadFailed, ex.Message);
                LogVariantRefused(assignment.AssignmentId, variant.ClaimedSha256, loadFailed.Stage, loadFailed.Code, loadFailed.Detail);
                refusals.Add((variant, loadFailed));
                continue;
            }

            using (detector)
            {
                work.ThrowIfCancellationRequested();
                var result = health.Benchmark(detector, () => throttle.IsThrottled);
                LogBenchmarked(variant.Manifest!.Name, variant.Manifest.Precision ?? "", result.P50Ms, result.P95Ms, result.Runs, result.Throttled);
                benchmarks.Add(new VariantBenchmark
                {
                    Sha256 = variant.ClaimedSha256,
                    Precision = variant.Manifest.Precision ?? "",
                    P50Ms = (float)result.P50Ms,
                    P95Ms = (float)result.P95Ms,
                    Runs = (uint)result.Runs,
                    Throttled = result.Throttled,
                });
            }
        }

        // A variant that could not be fetched for now (download, disk) may pass: try the whole assignment again later.
        var retry = refusals.Any(refusal => refusal.Refusal.Stage == ModelStages.Failed);
        if (benchmarks.Count == 0)
        {
            foreach (var (variant, refusal) in refusals)
            {
                reporter.Report(assignment.AssignmentId, refusal.Stage, accepted: false, variant.ClaimedSha256, refusal.Code, refusal.Detail);
            }

            if (!retry)
            {
                Record(assignment.AssignmentId, "", assignment.Slot, refusals[^1].Refusal.Stage);
            }

            return retry;
        }

        if (retry)
        {
            // The figures would be incomplete; nothing is refused while another variant runs here.
            return true;
        }

        var note = refusals.Count == 0
            ? ""
            : "not benchmarked: " + string.Join("; ", refusals.Select(refusal =>
                $"{(refusal.Variant.Manifest?.Precision ?? "variant")} {Short(refusal.Variant.ClaimedSha256)} refused ({refusal.Refusal.Code}): {refusal.Refusal.Detail}"));
        reporter.Report(assignment.AssignmentId, ModelStages.Benchmarked, accepted: true, "", "", note,
            benchmarks, CpuFeatures.Describe());
        Record(assignment.AssignmentId, "", assignment.Slot, ModelStages.Benchmarked);
        return false;
    }

    /// <summary>
    /// A verified copy of the variant's file: slot A or B when it already holds it, a finished download, or a new
    /// download. Acknowledges "downloading" and "verified"; a download that was resumed and then does not verify is
    /// fetched once more from the start before it is refused.
    /// </summary>
    private async Task<Obtained> ObtainAsync(ModelAssigned assignment, VariantCheck variant, CancellationToken work)
    {
        var manifest = variant.Manifest!;
        var sha = variant.ClaimedSha256;
        foreach (var entry in new[] { store.State.Candidate, store.State.Active })
        {
            if (entry?.Sha256 == sha && store.Check(entry, trust).Model is not null)
            {
                reporter.Report(assignment.AssignmentId, ModelStages.Verified, accepted: true, sha);
                return new Obtained(entry, null, null);
            }
        }

        var downloaded = store.DownloadedPath(sha);
        if (File.Exists(downloaded))
        {
            if (ManifestTrust.VerifyFile(manifest, downloaded) is null)
            {
                reporter.Report(assignment.AssignmentId, ModelStages.Verified, accepted: true, sha);
                return new Obtained(null, downloaded, null);
            }

            File.Delete(downloaded);
        }

        var part = store.PartPath(sha);
        var have = File.Exists(part) ? new FileInfo(part).Length : 0;
        var free = new DriveInfo(store.Root).AvailableFreeSpace;
        if (free < manifest.Model.SizeBytes - have + (16L * 1024 * 1024))
        {
            return new Obtained(null, null, new Refused(ModelStages.Failed, ModelReasonCodes.Disk,
                $"{free} bytes free under {store.Root}; {manifest.Model.SizeBytes - have} more are needed for {manifest.Name}@{manifest.Version}"));
        }

        reporter.Report(assignment.AssignmentId, ModelStages.Downloading, accepted: true, sha);
        var url = new Uri(variant.Variant.DownloadUrl);
        downloader.Progress = (written, total) =>
        {
            if (written * 2 >= total)
            {
                SwapCrashHook.At(SwapCrashHook.MidDownload);
            }
        };
        for (var fresh = false; ; fresh = true)
        {
            var result = await downloader.DownloadAsync(url, part, manifest.Model.SizeBytes, work);
            LogDownloaded(manifest.Name, result.Outcome.ToString(), result.Attempts, result.Resumed);
            switch (result.Outcome)
            {
                case DownloadOutcome.Failed:
                    return new Obtained(null, null, new Refused(ModelStages.Failed, ModelReasonCodes.DownloadFailed, result.Detail));
                case DownloadOutcome.TooLarge:
                    File.Delete(part);
                    return new Obtained(null, null, new Refused(ModelStages.Rejected, ManifestRejection.SizeMismatch, result.Detail));
            }

            if (ManifestTrust.VerifyFile(manifest, part) is { } rejection)
            {
                File.Delete(part);
                if (result.Resumed && !fresh)
                {
                    // A resumed file can only be wrong if the part kept from before was: fetch it whole once more.
                    LogResumedMismatch(manifest.Name, rejection.Detail);
                    continue;
                }

                return new Obtained(null, null, new Refused(ModelStages.Rejected, rejection.Code, rejection.Detail));
            }

            File.Move(part, downloaded, overwrite: true);
            DurableFiles.FlushDirectory(store.DownloadsFolder);
            SwapCrashHook.At(SwapCrashHook.AfterDownload);
            reporter.Report(assignment.AssignmentId, ModelStages.Verified, accepted: true, sha);
            return new Obtained(null, downloaded, null);
        }
    }

    private VariantCheck CheckVariant(ModelVariant variant)
    {
        var rejection = trust.Verify(variant.ManifestJson.Span, out var manifest);
        var claimed = manifest?.Model.Sha256;
        if (claimed is null)
        {
            // Unverified, but its claimed hash tells the cloud which variant was refused.
            try
            {
                claimed = ModelManifest.Parse(variant.ManifestJson.Span).Model.Sha256;
            }
            catch (ModelLoadException)
            {
                claimed = "";
            }
        }

        return new VariantCheck(variant, manifest, rejection, claimed.ToLowerInvariant());
    }

    private Refused? Refusal(VariantCheck variant)
    {
        if (variant.Rejection is { } rejection)
        {
            return new Refused(ModelStages.Rejected, rejection.Code, rejection.Detail);
        }

        var size = variant.Manifest!.Model.SizeBytes;
        return size > Models.MaxModelBytes
            ? new Refused(ModelStages.Rejected, ModelReasonCodes.Disk, $"the model has {size} bytes; this agent takes at most {Models.MaxModelBytes} (Agent:Models:MaxModelBytes)")
            : null;
    }

    /// <summary>
    /// A shadow assignment: the candidate is health-checked exactly as before a switch, but not switched to; passed, it
    /// runs beside the active model on sampled frames (<see cref="YoloFleet.EdgeAgent.Shadow.ShadowRunner"/>).
    /// </summary>
    private bool StartShadow(ModelAssigned assignment, SlotEntry entry, Detector detector, double bound)
    {
        var result = health.Check(detector, bound);
        if (!result.Passed)
        {
            detector.Dispose();
            MarkCandidateFailed(entry);
            LogHealthFailed(entry.Version, result.ReasonCode, result.Detail);
            Finish(assignment, ModelStages.Rejected, result.ReasonCode,
                $"{entry.Version} failed its health check, so it does not run in shadow: {result.Detail}");
            return false;
        }

        LogHealthPassed(entry.Version, result.Detail);
        if (shadow is null)
        {
            detector.Dispose();
            Finish(assignment, ModelStages.Shadowing, "", $"{entry.Version} is installed in slot B");
            return false;
        }

        shadow.Set(new DetectorGeneration(detector, new RunningModel(entry.Sha256, entry.Version, ModelOrigin.Slot, store.ModelPathOf(entry))));
        if (store.State.Candidate?.Sha256 == entry.Sha256)
        {
            // Recorded, so that a restart resumes shadowing it (the finished assignment itself is not redone).
            store.Save(store.State with { Candidate = entry with { Status = SlotStatus.Shadow }, UpdatedAt = time.GetUtcNow() });
        }

        Finish(assignment, ModelStages.Shadowing, "", $"{entry.Version} is installed in slot B and runs in shadow");
        return false;
    }

    /// <summary>
    /// At start: the candidate slot B was shadowing before the agent stopped runs in shadow again once it verifies again
    /// (manifest signature, file size and SHA-256), loads and passes its health check; otherwise it is marked failed and
    /// its assignment is acknowledged as rejected with the reason.
    /// </summary>
    private void RestoreShadow()
    {
        if (shadow is null || store.State.Candidate is not { Status: SlotStatus.Shadow } entry)
        {
            return;
        }

        var check = store.Check(entry, trust);
        if (check.Model is not { } installed)
        {
            RefuseRestoredShadow(entry, check.Rejection!.Code, $"at start, the shadow candidate in slot B {check.Rejection.Detail}");
            return;
        }

        Detector detector;
        try
        {
            detector = Detector.Open(installed.ModelPath, options.Detection.ToDetectorOptions(), installed.Manifest);
        }
        catch (ModelLoadException ex)
        {
            RefuseRestoredShadow(entry, ModelReasonCodes.LoadFailed, "at start, the shadow candidate did not load: " + ex.Message);
            return;
        }

        var result = health.Check(detector, Bound(entry.MaxLatencyMs));
        if (!result.Passed)
        {
            detector.Dispose();
            RefuseRestoredShadow(entry, result.ReasonCode, "at start, the shadow candidate failed its health check: " + result.Detail);
            return;
        }

        shadow.Set(new DetectorGeneration(detector, new RunningModel(entry.Sha256, entry.Version, ModelOrigin.Slot, installed.ModelPath)));
        LogShadowRestored(entry.Version, entry.Sha256);
    }

    private void RefuseRestoredShadow(SlotEntry entry, string code, string detail)
    {
        MarkCandidateFailed(entry);
        LogHealthFailed(entry.Version, code, detail);
        reporter.Report(entry.AssignmentId, ModelStages.Rejected, accepted: false, entry.Sha256, code, detail);
    }

    /// <summary>Stops shadowing; the candidate stays installed in slot B (not restored at the next start).</summary>
    private void StopShadow()
    {
        shadow?.Set(null);
        if (store.State.Candidate is { Status: SlotStatus.Shadow } shadowed)
        {
            store.Save(store.State with { Candidate = shadowed with { Status = SlotStatus.Installed }, UpdatedAt = time.GetUtcNow() });
        }
    }

    private void MarkCandidateFailed(SlotEntry entry)
    {
        if (store.State.Candidate?.Sha256 == entry.Sha256)
        {
            store.Save(store.State with { Candidate = entry with { Status = SlotStatus.Failed }, UpdatedAt = time.GetUtcNow() });
        }
    }

    private void Finish(ModelAssigned assignment, string stage, string reasonCode, string detail) =>
        Finish(assignment.AssignmentId, assignment.SelectedSha256, assignment.Slot, stage, reasonCode, detail);

    private void Finish(string assignmentId, string sha256, string slot, string stage, string reasonCode, string detail)
    {
        var accepted = stage is ModelStages.Activated or ModelStages.Shadowing or ModelStages.Benchmarked;
        reporter.Report(assignmentId, stage, accepted, sha256, reasonCode, accepted ? "" : detail);
        Record(assignmentId, sha256, slot, stage);
        LogFinished(assignmentId, stage, reasonCode, detail);
    }

    private void Record(string assignmentId, string sha256, string slot, string outcome)
    {
        Interlocked.Increment(ref _completed);
        store.SaveAssignment(new AssignmentRecord
        {
            AssignmentId = assignmentId,
            SelectedSha256 = sha256,
            Slot = slot,
            Outcome = outcome,
            FinishedAt = time.GetUtcNow(),
        });
    }

    private async Task RetryLaterAsync(ModelAssigned assignment, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Models.RetryFailedAfter, time, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        bool again;
        lock (_gate)
        {
            again = _latestKey == KeyOf(assignment) && _inProgressKey is null && _pending is null;
        }

        if (again)
        {
            LogRetrying(assignment.AssignmentId);
            Submit(assignment);
        }
    }

    private static string Short(string sha256) => sha256.Length > 12 ? sha256[..12] : sha256;

    private double Bound(double maxLatencyMs) => maxLatencyMs > 0 ? maxLatencyMs : Models.MaxLatencyMs;

    private static string KeyOf(ModelAssigned assignment) => Key(assignment.AssignmentId, assignment.SelectedSha256, assignment.Slot);

    private static string KeyOf(AssignmentRecord record) => Key(record.AssignmentId, record.SelectedSha256, record.Slot);

    private static string Key(string id, string sha256, string slot) => $"{id}\n{sha256.ToLowerInvariant()}\n{slot}";

    private sealed record VariantCheck(ModelVariant Variant, ModelManifest? Manifest, ManifestRejection? Rejection, string ClaimedSha256);

    private sealed record Refused(string Stage, string Code, string Detail);

    /// <summary>Where the verified file is: a slot that holds it already, or a finished download; or why there is none.</summary>
    private sealed record Obtained(SlotEntry? Installed, string? DownloadedPath, Refused? Refusal);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model assignment {AssignmentId}: {ModelVersion}, {Variants} variant(s), slot {Slot}, selected {Selected}")]
    private partial void LogAssigned(string assignmentId, string modelVersion, int variants, string slot, string selected);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model assignment {AssignmentId} was finished before ({Outcome}); not redone")]
    private partial void LogAlreadyDone(string assignmentId, string outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model assignment {AssignmentId} was superseded by a newer one")]
    private partial void LogSuperseded(string assignmentId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model assignment {AssignmentId} failed")]
    private partial void LogFailed(string assignmentId, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model assignment {AssignmentId} is tried again")]
    private partial void LogRetrying(string assignmentId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Download of {Model}: {Outcome} after {Attempts} attempt(s), resumed: {Resumed}")]
    private partial void LogDownloaded(string model, string outcome, int attempts, bool resumed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The resumed download of {Model} does not verify ({Detail}); downloading it again from the start")]
    private partial void LogResumedMismatch(string model, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model assignment {AssignmentId}: variant {Sha256} not benchmarked: {Stage} ({Code}) {Detail}")]
    private partial void LogVariantRefused(string assignmentId, string sha256, string stage, string code, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Benchmark of {Model} ({Precision}): median {P50:F2} ms, p95 {P95:F2} ms over {Runs} runs, throttled: {Throttled}")]
    private partial void LogBenchmarked(string model, string precision, double p50, double p95, int runs, bool throttled);

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check of {Version} passed: {Detail}")]
    private partial void LogHealthPassed(string version, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health check of {Version} failed ({Code}): {Detail}")]
    private partial void LogHealthFailed(string version, string code, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Switched the pipeline from {Previous} to {Version} between frames")]
    private partial void LogSwitched(string previous, string version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Confirmed {Version} in slot A after {Frames} frames (median {MedianMs:F1} ms)")]
    private partial void LogConfirmed(string version, int frames, double medianMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resumed shadowing {Version} ({Sha256}) after it verified again at start")]
    private partial void LogShadowRestored(string version, string sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model assignment {AssignmentId} finished: {Stage} {Code} {Detail}")]
    private partial void LogFinished(string assignmentId, string stage, string code, string detail);
}
