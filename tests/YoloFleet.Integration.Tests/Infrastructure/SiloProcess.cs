using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Net;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>A silo in its own process (the real yolofleet-silo), so a test can SIGKILL it and start it again.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly string[] _arguments;
    private readonly int _httpPort;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>The operator API key this silo accepts (/api needs one; docs/security.md).</summary>
    private static readonly (string Key, string Hash) ApiKey = YoloFleet.Cloud.Security.ApiKeys.Mint();
    private readonly List<string> _output = [];
    private Process? _process;

    public SiloProcess(
        string database, (string Host, int Port) broker, string redis, string clusterId, string clientIdPrefix, IEnumerable<KeyValuePair<string, string>>? settings = null)
    {
        _httpPort = LoopbackPorts.GetFree();
        SiloPort = LoopbackPorts.GetFree();
        _arguments =
        [
            Path.Combine(AppContext.BaseDirectory, "yolofleet-silo.dll"),
            $"--Urls=http://127.0.0.1:{_httpPort}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Orleans=Error",
            $"--Cloud:Database={database}",
            $"--Cloud:Mqtt:Host={broker.Host}",
            $"--Cloud:Mqtt:Port={broker.Port}",
            $"--Cloud:Mqtt:ClientIdPrefix={clientIdPrefix}",
            $"--Cloud:Mqtt:ShareGroup=local-{clusterId}",
            "--Cloud:Silo:Clustering=Redis",
            $"--Cloud:Silo:Redis={redis}",
            $"--Cloud:Silo:ClusterId={clusterId}",
            $"--Cloud:Silo:SiloPort={SiloPort}",
            $"--Cloud:Silo:GatewayPort={LoopbackPorts.GetFree()}",
            $"--Cloud:Api:KeyHashes:0={ApiKey.Hash}",
            .. (settings ?? []).Select(kv => $"--{kv.Key}={kv.Value}"),
        ];
        _http.DefaultRequestHeaders.Authorization = new("Bearer", ApiKey.Key);
    }

    public int SiloPort { get; }

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Starts the process and waits until its ingest is subscribed (GET /healthz is 200).</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in _arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start yolofleet-silo");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // A deadline, not a count of tries: on a loaded 2-core machine one probe can take the client's whole timeout
        // while the silo is still starting, and that is not a failure.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"yolofleet-silo exited at start with code {_process.ExitCode}");
            }

            try
            {
                if ((await _http.GetAsync(Url("/healthz"))).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"yolofleet-silo did not become healthy within {StartTimeout.TotalSeconds:0} s; its last output:" + Environment.NewLine + Tail());
    }

    public async Task<IngestStats?> StatsAsync()
    {
        try
        {
            return await _http.GetFromJsonAsync<IngestStats>(Url("/api/ingest/stats"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>The last lines the silo wrote (over its restarts), for assertion messages.</summary>
    public string Tail()
    {
        lock (_output)
        {
            return string.Join(Environment.NewLine, _output.TakeLast(40));
        }
    }

    /// <summary>GET an API path as JSON (the operator's view); null when the silo does not answer.</summary>
    public async Task<T?> GetAsync<T>(string path)
        where T : class
    {
        try
        {
            return await _http.GetFromJsonAsync<T>(Url(path));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL: no clean exit, no unsubscribe, no drain.</summary>
    public void Kill()
    {
        _process?.Kill(entireProcessTree: true);
        _process?.WaitForExit(10_000);
    }

    /// <summary>SIGTERM, as systemd stops it: the silo leaves the share group cleanly. SIGKILL after 20 s.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false })
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
        _http.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
            if (_output.Count > 400)
            {
                _output.RemoveRange(0, 200);
            }
        }
    }

    private string Url(string path) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_httpPort}{path}");
}
