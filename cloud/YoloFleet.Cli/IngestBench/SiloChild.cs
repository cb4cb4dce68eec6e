using System.Diagnostics;
using System.Net.Http.Json;
using YoloFleet.Cloud.Ingest;

namespace YoloFleet.Cli.IngestBench;

/// <summary>A silo in a child process (`yolofleet silo ...`), so its CPU can be told apart from the simulator's.</summary>
internal sealed class SiloChild : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;
    private readonly List<string> _log = [];

    private SiloChild(Process process, string httpAddress, string apiKey)
    {
        _process = process;
        _http = new HttpClient { BaseAddress = new Uri(httpAddress), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
    }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public static SiloChild Start(string httpAddress, string apiKey, IReadOnlyDictionary<string, string> settings)
    {
        // The yolofleet executable itself when it runs as one; else (`dotnet yolofleet.dll`, a test host) through dotnet.
        var self = Environment.ProcessPath ?? "dotnet";
        var direct = Path.GetFileNameWithoutExtension(self) == "yolofleet";
        var start = new ProcessStartInfo(direct ? self : Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,

            // Not the caller's directory: the host watches its content root for configuration changes, and a busy
            // directory such as /tmp costs the silo measurable CPU in file-change events.
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["DOTNET_hostBuilder__reloadConfigOnChange"] = "false";

        // Idle thread-pool workers spin before sleeping; on a machine whose cores are all busy (broker, silos, PostgreSQL
        // and the simulator share them here) that spinning only takes CPU from the others.
        start.Environment["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0";
        if (!direct)
        {
            start.ArgumentList.Add(typeof(SiloChild).Assembly.Location);
        }

        start.ArgumentList.Add("silo");
        foreach (var (key, value) in settings)
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        start.ArgumentList.Add($"--Urls={httpAddress}");
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start a silo process.");
        var child = new SiloChild(process, httpAddress, apiKey);
        process.OutputDataReceived += (_, e) => child.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => child.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The last lines the silo wrote, for the error message when it fails.</summary>
    public string Tail()
    {
        lock (_log)
        {
            return string.Join(Environment.NewLine, _log.TakeLast(20));
        }
    }

    public async Task<IngestStats?> TryGetStatsAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _http.GetFromJsonAsync<IngestStats>("/api/ingest/stats", cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync("/healthz", cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first: the silo leaves its share group and ends its MQTT session cleanly.
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _process.Dispose();
        _http.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Add(line);
            if (_log.Count > 200)
            {
                _log.RemoveRange(0, 100);
            }
        }
    }
}
