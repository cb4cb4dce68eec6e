using System.Diagnostics;
using System.Globalization;
using YoloFleet.Cloud.Net;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// A mosquitto instance of the test's own, started through deploy/services.sh with its own state directory and port,
/// for tests that count every message a broker delivers (the shared instance carries other tests' traffic).
/// </summary>
public sealed class PrivateMosquitto : IAsyncLifetime
{
    private readonly string _stateDirectory = Path.Combine(Path.GetTempPath(), "yf-mqtt-" + Guid.NewGuid().ToString("N")[..8]);

    public (string Host, int Port) Endpoint { get; private set; }

    public async Task InitializeAsync()
    {
        Endpoint = ("127.0.0.1", LoopbackPorts.GetFree());
        await RunServicesAsync("start");
    }

    public async Task DisposeAsync()
    {
        await RunServicesAsync("stop");
        Directory.Delete(_stateDirectory, recursive: true);
    }

    /// <summary>
    /// Stops the broker (SIGTERM) and starts it again on the same port. Its configuration has persistence off, so every
    /// session and every queued message is gone, as when an operator restarts the test broker.
    /// </summary>
    public async Task RestartAsync()
    {
        await RunServicesAsync("stop");
        await RunServicesAsync("start");
    }

    /// <summary>SIGKILL: no clean shutdown, nothing saved. Start it again with <see cref="StartAsync"/>.</summary>
    public async Task KillAsync()
    {
        var pidFile = Path.Combine(_stateDirectory, "mosquitto", "mosquitto.pid");
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public Task StartAsync() => RunServicesAsync("start");

    private async Task RunServicesAsync(string action)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "deploy", "services.sh"));
        start.ArgumentList.Add(action);
        start.ArgumentList.Add("mosquitto");
        start.Environment["YOLOFLEET_STATE_DIR"] = _stateDirectory;
        start.Environment["YOLOFLEET_MQTT_PORT"] = Endpoint.Port.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"deploy/services.sh {action} mosquitto failed ({process.ExitCode}): {output}");
        }
    }

    /// <summary>The checkout holding YoloFleet.sln: YOLOFLEET_REPO_ROOT, else found upwards from the test or the working directory.</summary>
    private static string RepositoryRoot()
    {
        if (Environment.GetEnvironmentVariable("YOLOFLEET_REPO_ROOT") is { Length: > 0 } configured)
        {
            return configured;
        }

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "YoloFleet.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above the test; set YOLOFLEET_REPO_ROOT.");
    }
}
