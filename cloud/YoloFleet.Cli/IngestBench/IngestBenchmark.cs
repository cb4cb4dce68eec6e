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
    int BatchFrames = 1,
    int ConfirmIntervalMs = 1000,
    bool CompareConfirmations = false);

public sealed record CpuShare(string Process, double CoresUsed);

/// <summary>
/// The cloud's commit confirmations during the measured window: what the simulated devices received on their
/// <c>commits</c> topics (payload bytes; wire bytes add each QoS 1 PUBLISH's MQTT header, topic and content type and the
/// device's PUBACK, not TCP/IP), and what the silos published.
/// </summary>
public sealed record DownstreamFigures(
    long Messages,
    double MessagesPerSecond,
    double PayloadBytesPerSecond,
    double WireBytesPerSecond,
    double MessagesPerDevicePerSecond,
    double AveragePayloadBytes,
    long SequencesConfirmed,
    long SiloConfirmationsPublished,
    long SiloConfirmationFailures);

/// <summary>One measured window of a run: its confirmation setting, ingest rate, latency, CPU split and downstream cost.</summary>
public sealed record IngestBenchPhase(
    int ConfirmIntervalMs,
    double DetectionsPerSecond,
    double FramesPerSecond,
    double? P50PublishToCommitMs,
    double? P95PublishToCommitMs,
    double? P99PublishToCommitMs,
    IReadOnlyList<CpuShare> Cpu,
    DownstreamFigures Downstream,
    double MeasuredSeconds);

/// <summary>
/// What `yolofleet ingest-bench` measured; the JSON keys are the property names in camelCase. The percentiles are over the
/// measured window; <see cref="P95WholeRunMs"/> also counts the warm-up (start-up included). With
/// <see cref="IngestBenchSettings.CompareConfirmations"/> the top-level figures are those of the window with
/// confirmations, and <see cref="WithoutConfirmations"/> holds the window without them, measured first in the same run.
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
    int ProcessorCount,
    int ConfirmIntervalMs = 0,
    DownstreamFigures? Downstream = null,
    IngestBenchPhase? WithoutConfirmations = null);

/// <summary>
/// The cloud's ingest path under a simulated fleet, everything on this machine: a private mosquitto, N silo processes in
/// one Orleans cluster sharing the load through a shared subscription, a fresh PostgreSQL database, and simulated devices
/// publishing at a fixed rate (and receiving the cloud's commit confirmations). Then the same rows through raw COPY, for
/// the ratio. To price the confirmations, one run can measure a window with them off and then one with them on: the
/// silos are restarted between the two, the devices, broker and database stay.
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
        await using var fleet = new FleetSimulator(settings.Devices, "127.0.0.1", broker.Port);
        var cluster = new SiloCluster(settings, broker.Port);
        try
        {
            var cpu = new List<ProcessCpu>
            {
                new("broker", () => [broker.ProcessId]),
                new("silos", () => cluster.ProcessIds),
                new("postgres", () => postgresPid is int pid ? ProcessCpu.WithDescendants(pid) : []),
                new("simulator", () => [Environment.ProcessId]),
            };
            int[] intervals = settings.CompareConfirmations ? [0, Math.Max(1, settings.ConfirmIntervalMs)] : [settings.ConfirmIntervalMs];
            PhaseRun? last = null;
            IngestBenchPhase? baseline = null;
            foreach (var interval in intervals)
            {
                var label = interval == 0 ? "confirmations off" : $"confirmations every {interval} ms";
                progress.WriteLine($"[3/6] Cloud: {settings.Silos} silo process(es) in one cluster, sharing the subscription ({label})");
                await cluster.StartAsync(interval, cancellationToken);
                if (last is null)
                {
                    progress.WriteLine($"[4/6] Fleet: connecting {settings.Devices} simulated devices (each subscribes to its commits topic)");
                    await fleet.ConnectAsync(
                        connected =>
                        {
                            if (connected % 1000 == 0 || connected == settings.Devices)
                            {
                                progress.WriteLine($"      {connected}/{settings.Devices} connected");
                            }
                        },
                        cancellationToken);
                }

                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[5/6] Publishing {settings.DetectionsPerSecond:F0} detections/s ({framesPerSecondPerDevice:F2} frames/s per device x {settings.DetectionsPerFrame} boxes, {settings.BatchFrames} frame(s) a message) for {settings.Warmup.TotalSeconds:F0} s warm-up + {settings.Duration.TotalSeconds:F0} s measured, {label}"));
                var run = await MeasureAsync(settings, fleet, cluster, cpu, framesPerSecondPerDevice, interval, progress, cancellationToken);
                if (intervals.Length > 1 && interval == 0)
                {
                    baseline = run.Phase;
                }

                last = run;
                if (interval != intervals[^1])
                {
                    await cluster.StopAsync();
                }
            }

            progress.WriteLine("[6/6] Counting what PostgreSQL holds, then raw COPY of the same rows");
            var published = fleet.FramesAcknowledged;
            var (frames, distinctFrames, detections) = await CountStoredAsync(settings.Database, cancellationToken);
            if (distinctFrames < published)
            {
                var stats = await cluster.StatsAsync(cancellationToken);
                for (var i = 0; i < stats.Count; i++)
                {
                    progress.WriteLine($"      {published - distinctFrames} frames missing after 120 s; silo {i}: {System.Text.Json.JsonSerializer.Serialize(stats[i])}; its last output:{Environment.NewLine}{cluster.Tail(i)}");
                }
            }

            var phase = last!.Phase;
            var rawFrames = Math.Clamp(last.CommittedFrames, 10_000, 200_000);
            var rawRate = await RawCopyBaseline.MeasureAsync(settings.Database, rawFrames, settings.DetectionsPerFrame, cancellationToken);
            var publishedDetections = published * settings.DetectionsPerFrame;
            return new IngestBenchResult(
                settings.Devices,
                settings.Silos,
                settings.BatchFrames,
                settings.DetectionsPerSecond,
                phase.DetectionsPerSecond,
                phase.FramesPerSecond,
                phase.P50PublishToCommitMs,
                phase.P95PublishToCommitMs,
                phase.P99PublishToCommitMs,
                last.P95WholeRunMs,
                Math.Round(rawRate),
                Math.Round(phase.DetectionsPerSecond / rawRate, 3),
                published,
                distinctFrames,
                publishedDetections,
                detections,
                Lost: Math.Max(0, published - distinctFrames) + Math.Max(0, publishedDetections - detections),
                Duplicated: (frames - distinctFrames) + Math.Max(0, detections - publishedDetections),
                fleet.PublishRetries,
                fleet.LateFrames,
                last.FramesCommittedPerSilo,
                phase.Cpu,
                phase.MeasuredSeconds,
                Environment.ProcessorCount,
                phase.ConfirmIntervalMs,
                phase.Downstream,
                baseline);
        }
        catch (Exception ex) when (cluster.ExitedTail() is { } tail && ex is not OperationCanceledException)
        {
            throw new InvalidOperationException($"A silo process exited during the bench. Its last output:{Environment.NewLine}{tail}", ex);
        }
        finally
        {
            await cluster.StopAsync();
        }
    }

    /// <summary>One window: warm-up, then measured publishing, then the backlog drained (120 s at most).</summary>
    private static async Task<PhaseRun> MeasureAsync(
        IngestBenchSettings settings,
        FleetSimulator fleet,
        SiloCluster cluster,
        List<ProcessCpu> cpu,
        double framesPerSecondPerDevice,
        int confirmIntervalMs,
        TextWriter progress,
        CancellationToken cancellationToken)
    {
        var acknowledgedBefore = fleet.FramesAcknowledged;
        var end = DateTime.UtcNow + settings.Warmup + settings.Duration;
        var publishing = fleet.RunAsync(framesPerSecondPerDevice, settings.DetectionsPerFrame, settings.BatchFrames, end, cancellationToken);

        await Task.Delay(settings.Warmup, cancellationToken);
        var startStats = await cluster.StatsAsync(cancellationToken);
        var startCpu = cpu.Select(c => c.CpuSeconds()).ToArray();
        var startDownstream = fleet.Downstream;
        var window = Stopwatch.StartNew();
        var reporter = ReportProgressAsync(cluster, progress, end, cancellationToken);
        await publishing;
        var endStats = await cluster.StatsAsync(cancellationToken);
        var measured = window.Elapsed.TotalSeconds;
        var endCpu = cpu.Select(c => c.CpuSeconds()).ToArray();
        var downstream = fleet.Downstream - startDownstream;
        await reporter;
        if (measured < settings.Duration.TotalSeconds * 0.8)
        {
            // The window opens when the silos have answered their first stats request: a saturated silo answers late.
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"      WARNING: only {measured:F1} s of the {settings.Duration.TotalSeconds:F0} s window measured: the silos answered late or the simulator lagged (late frames: {fleet.LateFrames}); offer less (--rate) or fewer devices"));
        }

        await WaitDrainedAsync(cluster, fleet.FramesAcknowledged - acknowledgedBefore, TimeSpan.FromSeconds(120), cancellationToken);

        var committedDetections = Sum(endStats, s => s.DetectionsCommitted) - Sum(startStats, s => s.DetectionsCommitted);
        var committedFrames = Sum(endStats, s => s.FramesCommitted) - Sum(startStats, s => s.FramesCommitted);
        var latency = Subtract(MergeBuckets(endStats), MergeBuckets(startStats));
        var siloPublished = Sum(endStats, s => s.Delivery?.ConfirmationsPublished ?? 0) - Sum(startStats, s => s.Delivery?.ConfirmationsPublished ?? 0);
        var siloFailures = Sum(endStats, s => s.Delivery?.ConfirmationFailures ?? 0) - Sum(startStats, s => s.Delivery?.ConfirmationFailures ?? 0);
        var phase = new IngestBenchPhase(
            confirmIntervalMs,
            Math.Round(committedDetections / measured),
            Math.Round(committedFrames / measured, 1),
            LatencyHistogram.Percentile(latency, 0.50),
            LatencyHistogram.Percentile(latency, 0.95),
            LatencyHistogram.Percentile(latency, 0.99),
            [.. cpu.Select((c, i) => new CpuShare(c.Name, Math.Round((endCpu[i] - startCpu[i]) / measured, 2)))],
            new DownstreamFigures(
                downstream.Messages,
                Math.Round(downstream.Messages / measured, 1),
                Math.Round(downstream.PayloadBytes / measured),
                Math.Round(downstream.WireBytes / measured),
                Math.Round(downstream.Messages / measured / settings.Devices, 3),
                downstream.Messages == 0 ? 0 : Math.Round((double)downstream.PayloadBytes / downstream.Messages, 1),
                downstream.SequencesConfirmed,
                siloPublished,
                siloFailures),
            Math.Round(measured, 1));
        return new PhaseRun(
            phase,
            committedFrames,
            LatencyHistogram.Percentile(MergeBuckets(endStats), 0.95),
            [.. endStats.Select((s, i) => s.FramesCommitted - startStats[i].FramesCommitted)]);
    }

    private sealed record PhaseRun(IngestBenchPhase Phase, long CommittedFrames, double? P95WholeRunMs, IReadOnlyList<long> FramesCommittedPerSilo);

    /// <summary>The bench's silo processes, started and stopped together (between the windows of a comparison).</summary>
    private sealed class SiloCluster(IngestBenchSettings settings, int brokerPort)
    {
        private readonly List<SiloChild> _silos = [];

        public IReadOnlyList<int> ProcessIds => [.. _silos.Select(s => s.ProcessId)];

        public async Task StartAsync(int confirmIntervalMs, CancellationToken cancellationToken)
        {
            var cluster = "bench-" + Guid.NewGuid().ToString("N")[..8];
            var primaryPort = LoopbackPorts.GetFree();
            var (apiKey, apiKeyHash) = ApiKeys.Mint();
            for (var i = 0; i < settings.Silos; i++)
            {
                var siloPort = i == 0 ? primaryPort : LoopbackPorts.GetFree();
                _silos.Add(SiloChild.Start($"http://127.0.0.1:{LoopbackPorts.GetFree()}", apiKey, new Dictionary<string, string>
                {
                    ["Cloud:Api:KeyHashes:0"] = apiKeyHash,
                    ["Cloud:Database"] = settings.Database,
                    ["Cloud:Mqtt:Host"] = "127.0.0.1",
                    ["Cloud:Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
                    ["Cloud:Mqtt:ShareGroup"] = cluster,
                    ["Cloud:Mqtt:ClientIdPrefix"] = cluster,
                    ["Cloud:Mqtt:ReceiveMaximum"] = "65535",
                    ["Cloud:Delivery:ConfirmIntervalMs"] = confirmIntervalMs.ToString(CultureInfo.InvariantCulture),
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

            await WaitHealthyAsync(_silos, TimeSpan.FromSeconds(60), cancellationToken);
        }

        /// <summary>SIGTERM to each: a silo leaves the share group and ends its session cleanly.</summary>
        public async Task StopAsync()
        {
            foreach (var silo in _silos)
            {
                await silo.DisposeAsync();
            }

            _silos.Clear();
        }

        public Task<IReadOnlyList<IngestStats>> StatsAsync(CancellationToken cancellationToken) => IngestBenchmark.StatsAsync(_silos, cancellationToken);

        public string Tail(int index) => _silos[index].Tail();

        public string? ExitedTail() => _silos.FirstOrDefault(s => s.HasExited)?.Tail();
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
            // A silo saturated by the fleet can take a while to answer; three tries of 30 s before calling it gone.
            IngestStats? answer = null;
            for (var attempt = 0; attempt < 3 && answer is null && !silo.HasExited; attempt++)
            {
                answer = await silo.TryGetStatsAsync(cancellationToken);
            }

            stats.Add(answer ?? throw new InvalidOperationException($"A silo stopped answering /api/ingest/stats. Its last output:{Environment.NewLine}{silo.Tail()}"));
        }

        return stats;
    }

    private static async Task ReportProgressAsync(SiloCluster silos, TextWriter progress, DateTime end, CancellationToken cancellationToken)
    {
        long last = 0;
        var clock = Stopwatch.StartNew();
        var lastAt = TimeSpan.Zero;
        while (DateTime.UtcNow < end)
        {
            await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken);
            var stats = await silos.StatsAsync(cancellationToken);
            var detections = stats.Sum(s => s.DetectionsCommitted);
            var now = clock.Elapsed;
            if (lastAt > TimeSpan.Zero)
            {
                var p95 = LatencyHistogram.Percentile(MergeBuckets(stats), 0.95);
                var rounds = stats.Select(s => s.Delivery).Where(d => d is { ConfirmationRounds: > 0 }).ToList();
                var confirming = rounds.Count == 0
                    ? ""
                    : string.Create(CultureInfo.InvariantCulture, $"; confirmation rounds {rounds.Average(d => d!.ConfirmationRoundMeanMs):F0} ms mean, {rounds.Max(d => d!.ConfirmationRoundMaxMs):F0} ms max");
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"      {(detections - last) / (now - lastAt).TotalSeconds,9:F0} detections/s committed, {detections,10} in total, p95 so far {p95:F0} ms{confirming}"));
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

    private static async Task WaitDrainedAsync(SiloCluster silos, long published, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var stats = await silos.StatsAsync(cancellationToken);
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
