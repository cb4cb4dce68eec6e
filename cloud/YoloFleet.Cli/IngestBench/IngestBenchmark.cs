using System.Diagnostics;
using System.Globalization;
using Npgsql;
using YoloFleet.Cloud.Data;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Net;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cli.IngestBench;

public sealed record IngestBenchSettings(
    string Database,
    int Devices,
    double DetectionsPerSecond,
    int DetectionsPerFrame,
    int Silos,
    TimeSpan Warmup,
    TimeSpan Duration,
    string Mosquitto,
    string SiloLogLevel = "Warning",
    int BatchFrames = 1);

public sealed record CpuShare(string Process, double CoresUsed);

/// <summary>
/// What `yolofleet ingest-bench` measured; the JSON keys are the property names in camelCase. The percentiles are over the
/// measured window; <see cref="P95WholeRunMs"/> also counts the warm-up (start-up included).
/// </summary>
public sealed record IngestBenchResult(
    int Devices,
    int Silos,
    int BatchFrames,
    double TargetDetectionsPerSecond,
    double DetectionsPerSecond,
    double FramesPerSecond,
    double? P50PublishToCommitMs,
    double? P95PublishToCommitMs,
    double? P99PublishToCommitMs,
    double? P95WholeRunMs,
    double RawCopyRowsPerSecond,
    double IngestToRawCopyRatio,
    long FramesPublished,
    long FramesStored,
    long DetectionsPublished,
    long DetectionsStored,
    long Lost,
    long Duplicated,
    long PublishRetries,
    long LateFrames,
    IReadOnlyList<long> FramesCommittedPerSilo,
    IReadOnlyList<CpuShare> Cpu,
    double MeasuredSeconds,
    int ProcessorCount);

/// <summary>
/// The cloud's ingest path under a simulated fleet, everything on this machine: a private mosquitto, N silo processes in
/// one Orleans cluster sharing the load through a shared subscription, a fresh PostgreSQL database, and simulated devices
/// publishing at a fixed rate. Then the same rows through raw COPY, for the ratio.
/// </summary>
public static class IngestBenchmark
{
    public static async Task<IngestBenchResult> RunAsync(IngestBenchSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var framesPerSecondPerDevice = settings.DetectionsPerSecond / settings.DetectionsPerFrame / settings.Devices;
        progress.WriteLine($"[1/6] PostgreSQL: fresh database {new NpgsqlConnectionStringBuilder(settings.Database).Database}, synchronous_commit on");
        await FleetDatabase.DropIfExistsAsync(settings.Database, cancellationToken);
        await FleetDatabase.MigrateAsync(settings.Database, cancellationToken);
        var postgresPid = await PostmasterPidAsync(settings.Database, cancellationToken);
        await RegisterDevicesAsync(settings.Database, settings.Devices, cancellationToken);
        await RequireDurableCommitsAsync(settings.Database, cancellationToken);

        progress.WriteLine("[2/6] Broker: a private mosquitto on loopback");
        await using var broker = await BenchBroker.StartAsync(settings.Mosquitto, cancellationToken);

        progress.WriteLine($"[3/6] Cloud: {settings.Silos} silo process(es) in one cluster, sharing the subscription");
        var silos = new List<SiloChild>();
        try
        {
            var cluster = "bench-" + Guid.NewGuid().ToString("N")[..8];
            var primaryPort = LoopbackPorts.GetFree();
            var (apiKey, apiKeyHash) = ApiKeys.Mint();
            for (var i = 0; i < settings.Silos; i++)
            {
                var siloPort = i == 0 ? primaryPort : LoopbackPorts.GetFree();
                silos.Add(SiloChild.Start($"http://127.0.0.1:{LoopbackPorts.GetFree()}", apiKey, new Dictionary<string, string>
                {
                    ["Cloud:Api:KeyHashes:0"] = apiKeyHash,
                    ["Cloud:Database"] = settings.Database,
                    ["Cloud:Mqtt:Host"] = "127.0.0.1",
                    ["Cloud:Mqtt:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
                    ["Cloud:Mqtt:ShareGroup"] = cluster,
                    ["Cloud:Mqtt:ClientIdPrefix"] = cluster,
                    ["Cloud:Mqtt:ReceiveMaximum"] = "65535",
                    ["Cloud:Silo:Clustering"] = "Localhost",
                    ["Cloud:Silo:ClusterId"] = cluster,
                    ["Cloud:Silo:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
                    ["Cloud:Silo:PrimarySiloPort"] = primaryPort.ToString(CultureInfo.InvariantCulture),
                    ["Cloud:Silo:GatewayPort"] = LoopbackPorts.GetFree().ToString(CultureInfo.InvariantCulture),
                    ["Logging:LogLevel:Default"] = settings.SiloLogLevel,
                    ["Logging:LogLevel:Orleans"] = "Warning",
                    ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                    ["Logging:LogLevel:Polly"] = "Warning",
                }));
            }

            await WaitHealthyAsync(silos, TimeSpan.FromSeconds(60), cancellationToken);

            progress.WriteLine($"[4/6] Fleet: connecting {settings.Devices} simulated devices");
            await using var fleet = new FleetSimulator(settings.Devices, "127.0.0.1", broker.Port);
            await fleet.ConnectAsync(
                connected =>
                {
                    if (connected % 250 == 0 || connected == settings.Devices)
                    {
                        progress.WriteLine($"      {connected}/{settings.Devices} connected");
                    }
                },
                cancellationToken);

            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[5/6] Publishing {settings.DetectionsPerSecond:F0} detections/s ({framesPerSecondPerDevice:F2} frames/s per device x {settings.DetectionsPerFrame} boxes, {settings.BatchFrames} frame(s) a message) for {settings.Warmup.TotalSeconds:F0} s warm-up + {settings.Duration.TotalSeconds:F0} s measured"));
            var cpu = new List<ProcessCpu>
            {
                new("broker", () => [broker.ProcessId]),
                new("silos", () => [.. silos.Select(s => s.ProcessId)]),
                new("postgres", () => postgresPid is int pid ? ProcessCpu.WithDescendants(pid) : []),
                new("simulator", () => [Environment.ProcessId]),
            };
            var end = DateTime.UtcNow + settings.Warmup + settings.Duration;
            var publishing = fleet.RunAsync(framesPerSecondPerDevice, settings.DetectionsPerFrame, settings.BatchFrames, end, cancellationToken);

            await Task.Delay(settings.Warmup, cancellationToken);
            var startStats = await StatsAsync(silos, cancellationToken);
            var startCpu = cpu.Select(c => c.CpuSeconds()).ToArray();
            var window = Stopwatch.StartNew();
            var reporter = ReportProgressAsync(silos, progress, end, cancellationToken);
            await publishing;
            var endStats = await StatsAsync(silos, cancellationToken);
            var measured = window.Elapsed.TotalSeconds;
            var endCpu = cpu.Select(c => c.CpuSeconds()).ToArray();
            await reporter;

            progress.WriteLine("[6/6] Draining, counting what PostgreSQL holds, then raw COPY of the same rows");
            var published = fleet.FramesAcknowledged;
            await WaitDrainedAsync(silos, published, TimeSpan.FromSeconds(120), cancellationToken);
            var (frames, distinctFrames, detections) = await CountStoredAsync(settings.Database, cancellationToken);
            if (distinctFrames < published)
            {
                var stats = await StatsAsync(silos, cancellationToken);
                for (var i = 0; i < silos.Count; i++)
                {
                    progress.WriteLine($"      {published - distinctFrames} frames missing after 120 s; silo {i}: {System.Text.Json.JsonSerializer.Serialize(stats[i])}; its last output:{Environment.NewLine}{silos[i].Tail()}");
                }
            }

            var committedDetections = Sum(endStats, s => s.DetectionsCommitted) - Sum(startStats, s => s.DetectionsCommitted);
            var committedFrames = Sum(endStats, s => s.FramesCommitted) - Sum(startStats, s => s.FramesCommitted);
            var latency = Subtract(MergeBuckets(endStats), MergeBuckets(startStats));
            var rawFrames = Math.Clamp(committedFrames, 10_000, 200_000);
            var rawRate = await RawCopyBaseline.MeasureAsync(settings.Database, rawFrames, settings.DetectionsPerFrame, cancellationToken);
            var rate = committedDetections / measured;
            var publishedDetections = published * settings.DetectionsPerFrame;

            return new IngestBenchResult(
                settings.Devices,
                settings.Silos,
                settings.BatchFrames,
                settings.DetectionsPerSecond,
                Math.Round(rate),
                Math.Round(committedFrames / measured, 1),
                LatencyHistogram.Percentile(latency, 0.50),
                LatencyHistogram.Percentile(latency, 0.95),
                LatencyHistogram.Percentile(latency, 0.99),
                LatencyHistogram.Percentile(MergeBuckets(endStats), 0.95),
                Math.Round(rawRate),
                Math.Round(rate / rawRate, 3),
                published,
                distinctFrames,
                publishedDetections,
                detections,
                Lost: Math.Max(0, published - distinctFrames) + Math.Max(0, publishedDetections - detections),
                Duplicated: (frames - distinctFrames) + Math.Max(0, detections - publishedDetections),
                fleet.PublishRetries,
                fleet.LateFrames,
                [.. endStats.Select((s, i) => s.FramesCommitted - startStats[i].FramesCommitted)],
                [.. cpu.Select((c, i) => new CpuShare(c.Name, Math.Round((endCpu[i] - startCpu[i]) / measured, 2)))],
                Math.Round(measured, 1),
                Environment.ProcessorCount);
        }
        catch (Exception ex) when (silos.Any(s => s.HasExited) && ex is not OperationCanceledException)
        {
            var dead = silos.First(s => s.HasExited);
            throw new InvalidOperationException($"A silo process exited during the bench. Its last output:{Environment.NewLine}{dead.Tail()}", ex);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static long Sum(IReadOnlyList<IngestStats> stats, Func<IngestStats, long> value) => stats.Sum(value);

    private static long[] MergeBuckets(IReadOnlyList<IngestStats> stats)
    {
        var merged = new long[LatencyHistogram.UpperBoundsMs.Count];
        foreach (var s in stats)
        {
            for (var i = 0; i < Math.Min(merged.Length, s.CaptureToCommitBuckets.Length); i++)
            {
                merged[i] += s.CaptureToCommitBuckets[i];
            }
        }

        return merged;
    }

    private static long[] Subtract(long[] end, long[] start) => [.. end.Select((n, i) => n - start[i])];

    private static async Task<IReadOnlyList<IngestStats>> StatsAsync(List<SiloChild> silos, CancellationToken cancellationToken)
    {
        var stats = new List<IngestStats>();
        foreach (var silo in silos)
        {
            stats.Add(await silo.TryGetStatsAsync(cancellationToken)
                ?? throw new InvalidOperationException($"A silo stopped answering /api/ingest/stats. Its last output:{Environment.NewLine}{silo.Tail()}"));
        }

        return stats;
    }

    private static async Task ReportProgressAsync(List<SiloChild> silos, TextWriter progress, DateTime end, CancellationToken cancellationToken)
    {
        long last = 0;
        var clock = Stopwatch.StartNew();
        var lastAt = TimeSpan.Zero;
        while (DateTime.UtcNow < end)
        {
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            var stats = await StatsAsync(silos, cancellationToken);
            var detections = stats.Sum(s => s.DetectionsCommitted);
            var now = clock.Elapsed;
            if (lastAt > TimeSpan.Zero)
            {
                var p95 = LatencyHistogram.Percentile(MergeBuckets(stats), 0.95);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"      {(detections - last) / (now - lastAt).TotalSeconds,9:F0} detections/s committed, {detections,10} in total, p95 so far {p95:F0} ms"));
            }

            last = detections;
            lastAt = now;
        }
    }

    private static async Task WaitHealthyAsync(List<SiloChild> silos, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var silo in silos)
        {
            while (!await silo.IsHealthyAsync(cancellationToken))
            {
                if (silo.HasExited || DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException($"A silo did not become healthy within {timeout.TotalSeconds:F0} s. Its last output:{Environment.NewLine}{silo.Tail()}");
                }

                await Task.Delay(200, cancellationToken);
            }
        }
    }

    private static async Task WaitDrainedAsync(List<SiloChild> silos, long published, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var stats = await StatsAsync(silos, cancellationToken);
            if (stats.Sum(s => s.FramesCommitted + s.Duplicates) >= published)
            {
                return;
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    private static async Task<(long Frames, long Distinct, long Detections)> CountStoredAsync(string database, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(database);
        await using var command = dataSource.CreateCommand(
            "SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM (SELECT DISTINCT device_id, sequence FROM frames) k), (SELECT count(*) FROM detections)");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>
    /// Commits wait for the WAL flush in the bench database whatever the server's default (the development instance of
    /// deploy/services.sh turns it off), so the figures are those of a production setting: a frame is acknowledged only
    /// once its commit is on disk.
    /// </summary>
    private static async Task RequireDurableCommitsAsync(string database, CancellationToken cancellationToken)
    {
        var name = new NpgsqlConnectionStringBuilder(database).Database!;
        await using var dataSource = NpgsqlDataSource.Create(database);
        await using var command = dataSource.CreateCommand($"ALTER DATABASE \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\" SET synchronous_commit = on");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Registers the simulated devices, as an operator would; the silos drop messages of unregistered ones.</summary>
    private static async Task RegisterDevicesAsync(string database, int devices, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(database);
        var directory = new DeviceDirectory(dataSource);
        for (var i = 0; i < devices; i++)
        {
            await directory.RegisterAsync(FleetSimulator.DeviceId(i), "ingest bench", cancellationToken: cancellationToken);
        }
    }

    /// <summary>The postmaster's pid when PostgreSQL runs on this machine (for the CPU split); null otherwise.</summary>
    private static async Task<int?> PostmasterPidAsync(string database, CancellationToken cancellationToken)
    {
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(database);
            await using var command = dataSource.CreateCommand("SELECT current_setting('data_directory')");
            var directory = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
            var first = (await File.ReadAllLinesAsync(Path.Combine(directory, "postmaster.pid"), cancellationToken))[0];
            return int.Parse(first, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is PostgresException or IOException or UnauthorizedAccessException or FormatException)
        {
            return null; // Remote, or not readable: the split then leaves PostgreSQL out.
        }
    }
}
