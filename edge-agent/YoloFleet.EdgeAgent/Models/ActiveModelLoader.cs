using Microsoft.Extensions.Logging;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>A slot the agent could not start on, reported to the cloud as "rolled-back" once it is connected.</summary>
public sealed record StartupFallback(string AssignmentId, string Sha256, string ReasonCode, string Detail);

/// <summary>
/// Chooses the model the agent starts on, and opens it. In order: slot A when it verifies (manifest signature, file
/// size and SHA-256) and opens; else slot B when it holds the previous model and that verifies and opens; else the
/// factory model (<c>Agent:ModelPath</c>). A slot A that was switched to but not yet confirmed is health-checked again
/// first, and is given up after <see cref="ModelOptions.MaxUnconfirmedStarts"/> such starts (a model that crashes
/// the agent must not keep it restarting). Every slot given up is written to the state, logged, and kept in
/// <see cref="Fallbacks"/> for the cloud.
/// </summary>
public sealed partial class ActiveModelLoader(
    EdgeAgentOptions options,
    ModelSlotStore store,
    ManifestTrust trust,
    ModelHealthCheck health,
    ILogger<ActiveModelLoader> logger)
{
    private readonly List<StartupFallback> _fallbacks = [];

    /// <summary>The slots given up at start, oldest first.</summary>
    public IReadOnlyList<StartupFallback> Fallbacks => _fallbacks;

    /// <summary>Recovers the slot store and opens the model to start on.</summary>
    /// <exception cref="ModelLoadException">No slot is usable and the factory model does not load.</exception>
    public RunningDetector Load()
    {
        foreach (var line in store.Recover())
        {
            LogRecovered(line);
        }

        if (trust.KeyIds.Count == 0)
        {
            LogNoTrustedKeys();
        }

        if (store.StateProblem is { } problem)
        {
            LogStateUnreadable(problem);
            _fallbacks.Add(new StartupFallback("", "", ModelReasonCodes.Missing, problem + "; running the factory model"));
        }

        var state = store.State;
        if (state.Active is not { } active)
        {
            return Factory("no model is installed in slot A");
        }

        var (generation, code, detail) = TryOpen(active, unconfirmed: !state.ActiveConfirmed, state.UnconfirmedStarts);
        if (generation is not null)
        {
            LogStarted(active.Version, active.Sha256, state.ActiveConfirmed ? "confirmed" : "not yet confirmed");
            return new RunningDetector(generation);
        }

        LogSlotRefused("A", active.Version, active.Sha256, code, detail);
        _fallbacks.Add(new StartupFallback(active.AssignmentId, active.Sha256, code, $"at start, slot A {detail}"));

        // What failed only its check (not its signature or files) stays in slot B for inspection; never as a fallback.
        var failedActive = code is ModelReasonCodes.HealthShape or ModelReasonCodes.HealthLatency or ModelReasonCodes.HealthCrash or ModelReasonCodes.LoadFailed
            ? active with { Status = SlotStatus.Failed }
            : null;
        if (state.Candidate is { Status: SlotStatus.Previous } previous)
        {
            (generation, code, detail) = TryOpen(previous, unconfirmed: false, 0);
            if (generation is not null)
            {
                store.Save(new SlotState
                {
                    Active = previous with { Status = SlotStatus.Active },
                    Candidate = failedActive,
                    UpdatedAt = DateTimeOffset.UtcNow,
                });
                LogFellBack("slot B", previous.Version, previous.Sha256);
                return new RunningDetector(generation);
            }

            LogSlotRefused("B", previous.Version, previous.Sha256, code, detail);
        }

        store.Save(new SlotState { Active = null, Candidate = failedActive, UpdatedAt = DateTimeOffset.UtcNow });
        return Factory("no slot verifies");
    }

    /// <summary>
    /// Opens the model to fall back to while the agent runs (after a failed confirmation once restarted): slot B when it
    /// holds a previous model that verifies, else the factory model. Null entry: the factory model was chosen.
    /// </summary>
    public (DetectorGeneration Generation, SlotEntry? Entry) OpenFallback()
    {
        if (store.State.Candidate is { Status: SlotStatus.Previous } previous)
        {
            var (generation, code, detail) = TryOpen(previous, unconfirmed: false, 0);
            if (generation is not null)
            {
                return (generation, previous);
            }

            LogSlotRefused("B", previous.Version, previous.Sha256, code, detail);
        }

        return (OpenFactory(), null);
    }

    /// <summary>The factory model, which came with the device and is trusted without a signature.</summary>
    public DetectorGeneration OpenFactory()
    {
        var detector = Detector.Open(options.ModelPath, options.Detection.ToDetectorOptions());
        return new DetectorGeneration(detector, new RunningModel(detector.Model.Sha256, detector.Model.Version, ModelOrigin.Factory, detector.Model.Path));
    }

    private RunningDetector Factory(string why)
    {
        var generation = OpenFactory();
        LogFactory(generation.Model.Version, generation.Model.Sha256, why);
        return new RunningDetector(generation);
    }

    private (DetectorGeneration? Generation, string Code, string Detail) TryOpen(SlotEntry entry, bool unconfirmed, int unconfirmedStarts)
    {
        var check = store.Check(entry, trust);
        if (check.Rejection is { } rejection)
        {
            return (null, rejection.Code, $"{entry.Sha256[..12]} does not verify: {rejection.Detail}");
        }

        if (unconfirmed)
        {
            // Counted before the check runs: if the model takes the process down, the next start knows.
            var starts = unconfirmedStarts + 1;
            if (starts > options.Models.MaxUnconfirmedStarts)
            {
                return (null, ModelReasonCodes.HealthCrash,
                    $"{entry.Sha256[..12]} was started {unconfirmedStarts} times after its switch and never confirmed (the agent died running it)");
            }

            store.Save(store.State with { UnconfirmedStarts = starts, UpdatedAt = DateTimeOffset.UtcNow });
        }

        Detector detector;
        try
        {
            detector = Detector.Open(check.Model!.ModelPath, options.Detection.ToDetectorOptions(), check.Model.Manifest);
        }
        catch (ModelLoadException ex)
        {
            return (null, ModelReasonCodes.LoadFailed, $"{entry.Sha256[..12]} does not load: {ex.Message}");
        }

        if (unconfirmed)
        {
            var result = health.Check(detector, entry.MaxLatencyMs > 0 ? entry.MaxLatencyMs : options.Models.MaxLatencyMs);
            if (!result.Passed)
            {
                detector.Dispose();
                return (null, result.ReasonCode, $"{entry.Sha256[..12]} failed its health check: {result.Detail}");
            }
        }

        return (new DetectorGeneration(detector, new RunningModel(entry.Sha256, detector.Model.Version, ModelOrigin.Slot, check.Model.ModelPath)), "", "");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model slots: removed {What} left by an interrupted change")]
    private partial void LogRecovered(string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No trusted model signing keys are configured (Agent:Models:TrustedKeys): every model assignment will be refused, and only the factory model runs")]
    private partial void LogNoTrustedKeys();

    [LoggerMessage(Level = LogLevel.Error, Message = "Model slots: {Problem}; starting on the factory model")]
    private partial void LogStateUnreadable(string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting on slot A: {Version} ({Sha256}), {Confirmation}")]
    private partial void LogStarted(string version, string sha256, string confirmation);

    [LoggerMessage(Level = LogLevel.Error, Message = "Slot {Slot} ({Version}, {Sha256}) is not usable ({Code}): {Detail}")]
    private partial void LogSlotRefused(string slot, string version, string sha256, string code, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fell back to {Slot}: {Version} ({Sha256})")]
    private partial void LogFellBack(string slot, string version, string sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting on the factory model {Version} ({Sha256}): {Why}")]
    private partial void LogFactory(string version, string sha256, string why);
}
