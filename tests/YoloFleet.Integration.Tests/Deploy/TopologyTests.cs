using System.Globalization;
using System.Net.Http.Json;
using Npgsql;
using YoloFleet.Cloud.Net;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.Deploy;

/// <summary>
/// deploy/topology.sh, the whole topology as plain processes, driven as an operator would: start it on free loopback
/// ports in a state folder of the test's own, check it end to end (every agent's detections in PostgreSQL, both silos
/// in one cluster, secrets owner-only and on no command line), stop it, and check nothing is left running.
/// </summary>
[Trait("Category", "Deploy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TopologyTests : IDisposable
{
    private const int Agents = 2;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);

    private readonly string _directory = Directory.CreateTempSubdirectory("yf-topo-").FullName;
    private readonly Dictionary<string, string> _environment;
    private readonly int _httpPort = LoopbackPorts.GetFree();
    private readonly int _pgPort = LoopbackPorts.GetFree();
    private readonly int _mqttPort = LoopbackPorts.GetFree();

    public TopologyTests()
    {
        _environment = new Dictionary<string, string>
        {
            ["YOLOFLEET_TOPOLOGY_DIR"] = _directory,
            ["YOLOFLEET_TOPOLOGY_AGENTS"] = Agents.ToString(CultureInfo.InvariantCulture),
            ["YOLOFLEET_TOPOLOGY_TIMEOUT"] = "150",
            ["YOLOFLEET_TOPOLOGY_MAX_FPS"] = "2",
            ["YOLOFLEET_TOPOLOGY_MODEL"] = SharedData.YoloxNano416,
            // The built silo, agent and CLI beside this test (the script would build them otherwise).
            ["YOLOFLEET_BIN_DIR"] = AppContext.BaseDirectory,
            ["YOLOFLEET_SHARED_DIR"] = SharedData.Root,
            ["YOLOFLEET_TOPOLOGY_PG_PORT"] = Port(_pgPort),
            ["YOLOFLEET_TOPOLOGY_REDIS_PORT"] = Port(LoopbackPorts.GetFree()),
            ["YOLOFLEET_TOPOLOGY_MQTT_PORT"] = Port(_mqttPort),
            ["YOLOFLEET_TOPOLOGY_MQTT_CLOUD_PORT"] = Port(LoopbackPorts.GetFree()),
            ["YOLOFLEET_TOPOLOGY_HTTP_PORTS"] = $"{Port(_httpPort)} {Port(LoopbackPorts.GetFree())}",
            ["YOLOFLEET_TOPOLOGY_SILO_PORTS"] = $"{Port(LoopbackPorts.GetFree())} {Port(LoopbackPorts.GetFree())}",
            ["YOLOFLEET_TOPOLOGY_GATEWAY_PORTS"] = $"{Port(LoopbackPorts.GetFree())} {Port(LoopbackPorts.GetFree())}",
        };
    }

    [Fact]
    public async Task The_topology_starts_healthy_stores_every_agents_detections_forms_one_cluster_and_stops_without_leftovers()
    {
        var started = false;
        try
        {
            started = true;
            var start = await TopologyAsync("start", TimeSpan.FromSeconds(200));
            Assert.True(start.ExitCode == 0, "topology.sh start failed:\n" + start.Output + Logs());

            // status: every process with its health, and the cluster as a silo sees it.
            var status = await TopologyAsync("status", TimeSpan.FromSeconds(60));
            Assert.True(status.ExitCode == 0, "topology.sh status:\n" + status.Output + Logs());
            foreach (var name in new[] { "postgres", "redis", "mosquitto", "silo-1", "silo-2", "sim-01", "sim-02" })
            {
                Assert.Contains(status.Output.Split('\n'), line => line.StartsWith(name + ": running", StringComparison.Ordinal) && line.TrimEnd().EndsWith(" healthy", StringComparison.Ordinal));
            }

            Assert.Contains("cluster: 2 active silos", status.Output, StringComparison.Ordinal);

            AssertSecretsAreOwnerOnlyAndOnNoCommandLine();

            // Both silos in one cluster, through the operator API (with the generated key).
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            http.DefaultRequestHeaders.Authorization = new("Bearer", Secret("operator-api-key"));
            var cluster = await http.GetFromJsonAsync<ClusterResponse>($"http://127.0.0.1:{_httpPort}/api/cluster");
            Assert.NotNull(cluster);
            Assert.Equal(2, cluster.Silos.Count);
            Assert.All(cluster.Silos, s => Assert.Equal("Active", s.Status));

            // The API refuses a request without the key: the generated key is what guards it.
            using (var anonymous = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
            {
                var refused = await anonymous.GetAsync(new Uri($"http://127.0.0.1:{_httpPort}/api/cluster"));
                Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
            }

            // End to end: frames and detections from every agent in PostgreSQL, read with the generated password.
            var database = new NpgsqlConnectionStringBuilder
            {
                Host = "127.0.0.1",
                Port = _pgPort,
                Username = "postgres",
                Password = Secret("db-password"),
                Database = "yolofleet",
            }.ConnectionString;
            var perDevice = await Poll.UntilAsync(
                () => CountsAsync(database), counts => counts.Count == Agents && counts.Values.All(c => c.Frames >= 3 && c.Detections > 0), Settle);
            Assert.True(
                perDevice.Count == Agents && perDevice.Values.All(c => c.Frames >= 3 && c.Detections > 0),
                "frames/detections per device: " + string.Join(", ", perDevice.Select(kv => $"{kv.Key} {kv.Value}")) + Logs());

            // The operator's first rollout, as the README's quick-start does it: the CLI with `topology.sh env`'s settings
            // uploads a model and assigns it to the simulated devices' group; each device activates it.
            var cli = new Dictionary<string, string>
            {
                ["YOLOFLEET_URL"] = $"http://127.0.0.1:{_httpPort}",
                ["YOLOFLEET_API_KEY"] = Secret("operator-api-key"),
                ["YOLOFLEET_DATABASE"] = database,
            };
            var upload = await CliAsync(cli, "models", "upload", "--model", SharedData.YoloxNano416, "--manifest",
                RepositoryFolder.Path("models", "manifests", "yolox_nano_416.onnx.manifest.json"));
            Assert.True(upload.ExitCode == 0, "models upload: " + upload.Output);
            var assign = await CliAsync(cli, "assign", "yolox_nano_416", "--group", "sim");
            Assert.True(assign.ExitCode == 0, "assign: " + assign.Output);
            foreach (var device in new[] { "sim-01", "sim-02" })
            {
                var twin = await Poll.UntilAsync(
                    async () => await GetOrNullAsync<TwinResponse>(http, $"http://127.0.0.1:{_httpPort}/api/devices/{device}/twin"),
                    t => t is { InSync: true }, Settle);
                Assert.True(twin is { InSync: true }, $"{device} twin: {twin}" + Logs());
            }

            // A wrong database password is refused: the cluster is not open to anyone on the machine.
            var wrong = new NpgsqlConnectionStringBuilder(database) { Password = "not-the-password" }.ConnectionString;
            await using (var dataSource = NpgsqlDataSource.Create(wrong))
            {
                var refused = await Assert.ThrowsAsync<PostgresException>(async () => await dataSource.OpenConnectionAsync());
                Assert.Equal("28P01", refused.SqlState);
            }

            NpgsqlConnection.ClearAllPools();
            var pids = RecordedPids();
            Assert.True(pids.Count >= 2 + 2 + Agents, "pid files: " + string.Join(", ", pids));

            var stop = await TopologyAsync("stop", TimeSpan.FromSeconds(240));
            started = false;
            Assert.True(stop.ExitCode == 0, "topology.sh stop failed:\n" + stop.Output);
            Assert.All(pids, pid => Assert.False(IsRunning(pid), $"pid {pid} still runs after stop"));
            Assert.False(File.Exists(Path.Combine(_directory, "postgres", "data", "postmaster.pid")), "postgres left its pid file");
            foreach (var port in new[] { _httpPort, _pgPort, _mqttPort })
            {
                Assert.False(await CanConnectAsync(port), $"port {port} still accepts connections after stop");
            }

            var after = await TopologyAsync("status", TimeSpan.FromSeconds(60));
            Assert.Equal(3, after.ExitCode);
            Assert.DoesNotContain(": running", after.Output, StringComparison.Ordinal);
        }
        finally
        {
            if (started)
            {
                await TopologyAsync("stop", TimeSpan.FromSeconds(240));
            }
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A process that outlived a failed stop keeps files open; the failure above says which.
        }
    }

    private Task<ScriptRun> TopologyAsync(string action, TimeSpan timeout) =>
        ScriptRun.BashAsync(RepositoryFolder.Path("deploy", "topology.sh"), [action], _environment, timeout);

    private string Secret(string name) => File.ReadAllText(Path.Combine(_directory, "secrets", name)).Trim();

    private List<int> RecordedPids()
    {
        var pids = Directory.EnumerateFiles(Path.Combine(_directory, "run"), "*.pid")
            .Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture)).ToList();
        var postmaster = Path.Combine(_directory, "postgres", "data", "postmaster.pid");
        if (File.Exists(postmaster))
        {
            pids.Add(int.Parse(File.ReadLines(postmaster).First(), CultureInfo.InvariantCulture));
        }

        return pids;
    }

    private void AssertSecretsAreOwnerOnlyAndOnNoCommandLine()
    {
        var secrets = Path.Combine(_directory, "secrets");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(secrets));
        var files = Directory.EnumerateFiles(secrets, "*", SearchOption.AllDirectories).ToList();
        Assert.True(files.Count >= 6 + Agents, "secret files: " + string.Join(", ", files));
        Assert.All(files, f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));

        // The secrets themselves (not their public halves or hashes) must appear on no process's command line.
        var values = files.Where(f => !f.EndsWith(".sha256", StringComparison.Ordinal) && !f.EndsWith(".header", StringComparison.Ordinal))
            .Select(f => File.ReadAllText(f).Trim()).Where(v => v.Length >= 16).ToList();
        foreach (var pid in RecordedPids())
        {
            var commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            Assert.All(values, v => Assert.DoesNotContain(v, commandLine, StringComparison.Ordinal));
        }
    }

    private static async Task<Dictionary<string, (long Frames, long Detections)>> CountsAsync(string connectionString)
    {
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await using var command = dataSource.CreateCommand(
                "SELECT f.device_id, count(DISTINCT f.sequence), count(d.*) FROM frames f LEFT JOIN detections d ON d.device_id = f.device_id AND d.sequence = f.sequence GROUP BY f.device_id");
            await using var reader = await command.ExecuteReaderAsync();
            var counts = new Dictionary<string, (long, long)>();
            while (await reader.ReadAsync())
            {
                counts[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2));
            }

            return counts;
        }
        catch (NpgsqlException)
        {
            return [];
        }
    }

    /// <summary>
    /// Whether the process exists and is not a zombie: a daemon that exited waits as a zombie until PID 1 reaps it,
    /// which in containers can take a while, and it is not running.
    /// </summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static async Task<ScriptRun> CliAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        await ScriptRun.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "yolofleet.dll"), .. arguments], environment, TimeSpan.FromSeconds(120));

    private static async Task<T?> GetOrNullAsync<T>(HttpClient http, string url)
        where T : class
    {
        try
        {
            return await http.GetFromJsonAsync<T>(url);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    private static async Task<bool> CanConnectAsync(int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port).WaitAsync(TimeSpan.FromSeconds(5));
            return true;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
        {
            return false;
        }
    }

    private string Logs()
    {
        var logs = Path.Combine(_directory, "logs");
        if (!Directory.Exists(logs))
        {
            return "";
        }

        return string.Concat(Directory.EnumerateFiles(logs).Select(f =>
            $"\n---- {Path.GetFileName(f)} (last lines) ----\n" + string.Join('\n', File.ReadLines(f).TakeLast(15))));
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private sealed record ClusterResponse(string Silo, List<ClusterMember> Silos);

    private sealed record ClusterMember(string Name, string Address, string Status);

    private sealed record TwinResponse(string DeviceId, bool InSync);
}
