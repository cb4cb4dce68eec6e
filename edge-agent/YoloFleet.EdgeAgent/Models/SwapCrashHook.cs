using System.Runtime.InteropServices;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// TEST-ONLY: ends the process at a named step of a model swap, at once and without any clean-up, so that integration
/// tests can check that every partial state left on disk is recovered (a power cut or SIGKILL at that instant). Set
/// <c>YOLOFLEET_TEST_CRASH_AT</c> to one of the step names below; the process then exits with
/// <see cref="ExitCode"/> the first time it reaches that step. Unset (always, outside tests) it does nothing. It is
/// read from the environment, not from configuration, so that no configuration file can turn it on by mistake.
/// </summary>
public static partial class SwapCrashHook
{
    public const string EnvironmentVariable = "YOLOFLEET_TEST_CRASH_AT";

    /// <summary>The exit code of a crash the hook caused, distinct from any the agent uses otherwise.</summary>
    public const int ExitCode = 86;

    /// <summary>Half of the model file is in the .part file (flushed).</summary>
    public const string MidDownload = "mid-download";

    /// <summary>The whole file is downloaded and verified, nothing is in a slot yet.</summary>
    public const string AfterDownload = "after-download";

    /// <summary>The slot's folder is written (model and manifest, flushed) under its temporary name, not yet renamed.</summary>
    public const string MidSlotRename = "mid-slot-rename";

    /// <summary>The new slot state is written to its temporary file, not yet renamed over the state.</summary>
    public const string MidStateRename = "mid-state-rename";

    /// <summary>The candidate is installed in slot B; its health check has not started.</summary>
    public const string BeforeHealthCheck = "before-health-check";

    /// <summary>The state names the new model active (unconfirmed); the frames after the switch have not confirmed it.</summary>
    public const string AfterSwitch = "after-switch";

    public static IReadOnlyList<string> Steps { get; } = [MidDownload, AfterDownload, MidSlotRename, MidStateRename, BeforeHealthCheck, AfterSwitch];

    private static readonly string? Armed = Environment.GetEnvironmentVariable(EnvironmentVariable);

    /// <summary>Exits the process now when the hook is armed for <paramref name="step"/>.</summary>
    public static void At(string step)
    {
        if (Armed is null || !string.Equals(Armed, step, StringComparison.Ordinal))
        {
            return;
        }

        Console.Error.WriteLine($"{EnvironmentVariable}={step}: exiting with code {ExitCode} (test-only crash hook)");
        Console.Error.Flush();
        if (OperatingSystem.IsLinux())
        {
            // _exit(2): no finalizers, no host shutdown, no buffered writes: what a SIGKILL leaves behind.
            ImmediateExit(ExitCode);
        }

        Environment.FailFast($"test-only crash hook at {step}");
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ImmediateExit(int status);
}
