using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using YoloFleet.Cli.IngestBench;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet ingest-bench`: the cloud's sustained ingest rate on this machine (simulated devices → mosquitto → silos →
/// PostgreSQL), its publish-to-commit latency, the CPU split and the ratio to PostgreSQL's raw COPY rate, with the
/// targets as PASS/FAIL lines. docs/benchmarks.md records its figures and commands.
/// </summary>
internal static class IngestBenchVerb
{
    private const double TargetRate = 50_000;
    private const double TargetP95Ms = 2_000;

    public static Command Create()
    {
        var devices = new Option<int>("--devices") { Description = "Simulated devices, each with its own MQTT connection.", DefaultValueFactory = _ => 1000 };
        var rate = new Option<double>("--rate") { Description = "Detections per second offered by the whole fleet.", DefaultValueFactory = _ => TargetRate };
        var boxes = new Option<int>("--detections-per-frame") { Description = "Boxes in each frame's message.", DefaultValueFactory = _ => 10 };
        var silos = new Option<int>("--silos") { Description = "Silo processes in the cluster.", DefaultValueFactory = _ => 2 };
        var duration = new Option<int>("--duration") { Description = "Measured seconds.", DefaultValueFactory = _ => 30 };
        var warmup = new Option<int>("--warmup")
        {
            Description = "Unmeasured seconds of publishing first (start-up: JIT, connections, grain activations). The whole run's p95 is printed too.",
            DefaultValueFactory = _ => 20,
        };
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "PostgreSQL server (the bench creates and drops database yolofleet_bench on it).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_PG") ?? "Host=127.0.0.1;Port=55432;Username=postgres",
        };
        var mosquitto = new Option<string>("--mosquitto") { Description = "The mosquitto executable the bench starts its private broker with.", DefaultValueFactory = _ => "mosquitto" };
        var siloLog = new Option<string>("--silo-log-level") { Description = "Log level of the silo processes; their last lines are shown when frames go missing.", DefaultValueFactory = _ => "Warning" };
        var batchFrames = new Option<int>("--batch-frames")
        {
            Description = "Frames per MQTT message, as an agent with Agent:Batching:MaxFrames sends them (1: one message per frame). Latency still counts from each frame's own time.",
            DefaultValueFactory = _ => 1,
        };
        var confirmInterval = new Option<int>("--confirm-interval-ms")
        {
            Description = "Cloud:Delivery:ConfirmIntervalMs of the silos: how often each device is told what committed (0: off).",
            DefaultValueFactory = _ => 1000,
        };
        var compare = new Option<bool>("--compare-confirmations")
        {
            Description = "Measure a window with confirmations off, then one with them on (--confirm-interval-ms), in one run: the silos restart between them.",
        };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on stdout (progress goes to stderr)." };
        var check = new Option<bool>("--check") { Description = "Exit with 1 when a target fails or anything was lost or duplicated." };
        var command = new Command("ingest-bench", "Measure fleet ingest into PostgreSQL through MQTT and a multi-silo cluster, against raw COPY.")
        {
            devices, rate, boxes, silos, duration, warmup, batchFrames, confirmInterval, compare, connection, mosquitto, siloLog, json, check,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new IngestBenchSettings(
                new NpgsqlConnectionStringBuilder(parse.GetValue(connection)) { Database = "yolofleet_bench" }.ConnectionString,
                parse.GetValue(devices),
                parse.GetValue(rate),
                parse.GetValue(boxes),
                parse.GetValue(silos),
                TimeSpan.FromSeconds(parse.GetValue(warmup)),
                TimeSpan.FromSeconds(parse.GetValue(duration)),
                parse.GetValue(mosquitto)!,
                parse.GetValue(siloLog)!,
                parse.GetValue(batchFrames),
                parse.GetValue(confirmInterval),
                parse.GetValue(compare));
            if (Validate(settings) is { } problem)
            {
                await Console.Error.WriteLineAsync("error: " + problem);
                return 2;
            }

            var asJson = parse.GetValue(json);
            try
            {
                var result = await IngestBenchmark.RunAsync(settings, asJson ? Console.Error : Console.Out, cancellationToken);
                var targets = Targets(result);
                if (asJson)
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
                }
                else
                {
                    Print(result, targets);
                }

                return parse.GetValue(check) && targets.Any(t => !t.Passed) ? 1 : 0;
            }
            catch (Exception ex) when (ex is InvalidOperationException or NpgsqlException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
        });
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    private static string? Validate(IngestBenchSettings s) =>
        s.Devices < 1 ? "--devices must be at least 1"
        : s.Silos < 1 ? "--silos must be at least 1"
        : s.DetectionsPerFrame is < 1 or > 1000 ? "--detections-per-frame must be 1..1000 (the protocol's limit per frame)"
        : s.DetectionsPerSecond <= 0 ? "--rate must be positive"
        : s.DetectionsPerSecond / s.DetectionsPerFrame / s.Devices > 100 ? "--rate asks more than 100 frames/s of each device; add devices"
        : s.Duration < TimeSpan.FromSeconds(5) ? "--duration must be at least 5 s"
        : s.Warmup < TimeSpan.Zero ? "--warmup must not be negative"
        : s.BatchFrames is < 1 or > YoloFleet.Contracts.ProtocolLimits.MaxFramesPerBatch ? $"--batch-frames must be 1..{YoloFleet.Contracts.ProtocolLimits.MaxFramesPerBatch}"
        : s.ConfirmIntervalMs is < 0 or > 60_000 ? "--confirm-interval-ms must be 0..60000"
        : s.CompareConfirmations && s.ConfirmIntervalMs == 0 ? "--compare-confirmations needs --confirm-interval-ms above 0"
        : null;

    private sealed record Target(string Name, bool Passed, string Detail);

    private static List<Target> Targets(IngestBenchResult r) =>
    [
        new("sustained ingest >= 50,000 detections/s", r.DetectionsPerSecond >= TargetRate, string.Create(CultureInfo.InvariantCulture, $"{r.DetectionsPerSecond:F0}/s")),
        new("p95 publish-to-commit <= 2 s", r.P95PublishToCommitMs is <= TargetP95Ms, string.Create(CultureInfo.InvariantCulture, $"{r.P95PublishToCommitMs:F0} ms")),
        new("nothing lost or duplicated", r.Lost == 0 && r.Duplicated == 0, $"lost {r.Lost}, duplicated {r.Duplicated}"),
    ];

    private static double Cores(IReadOnlyList<CpuShare> cpu, string process) => cpu.FirstOrDefault(x => x.Process == process)?.CoresUsed ?? 0;

    private static void Print(IngestBenchResult r, List<Target> targets)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"Ingest: {r.DetectionsPerSecond:F0} detections/s ({r.FramesPerSecond:F0} frames/s) committed over {r.MeasuredSeconds:F0} s; offered {r.TargetDetectionsPerSecond:F0}/s by {r.Devices} devices, {r.Silos} silo(s)"));
        Console.WriteLine(string.Create(c, $"Publish to commit: p50 {r.P50PublishToCommitMs:F0} ms, p95 {r.P95PublishToCommitMs:F0} ms, p99 {r.P99PublishToCommitMs:F0} ms (bucket upper bounds, <= 25 % high); p95 over the whole run, warm-up included: {r.P95WholeRunMs:F0} ms"));
        Console.WriteLine(string.Create(c, $"Raw COPY of the same rows: {r.RawCopyRowsPerSecond:F0} rows/s; ingest reaches {r.IngestToRawCopyRatio:P1} of it"));
        Console.WriteLine($"Frames: {r.FramesPublished} published, {r.FramesStored} stored; detections: {r.DetectionsPublished} published, {r.DetectionsStored} stored");
        Console.WriteLine($"Per silo (frames committed in the window): {string.Join(", ", r.FramesCommittedPerSilo)}; publish retries {r.PublishRetries}, late frames {r.LateFrames}");
        Console.WriteLine(string.Create(c, $"CPU (cores used, of {r.ProcessorCount}): {string.Join(", ", r.Cpu.Select(x => $"{x.Process} {x.CoresUsed:F2}"))}"));
        if (r.Downstream is { } d)
        {
            Console.WriteLine(string.Create(c, $"Confirmations ({(r.ConfirmIntervalMs == 0 ? "off" : $"every {r.ConfirmIntervalMs} ms")}): {d.MessagesPerSecond:F0} messages/s downstream ({d.MessagesPerDevicePerSecond:F2} per device), {d.PayloadBytesPerSecond / 1024:F1} KiB/s payload (mean {d.AveragePayloadBytes:F0} B), {d.WireBytesPerSecond / 1024:F1} KiB/s with MQTT headers and PUBACKs; silos published {d.SiloConfirmationsPublished}, {d.SiloConfirmationFailures} failed"));
        }

        if (r.WithoutConfirmations is { } off)
        {
            Console.WriteLine(string.Create(c, $"Without confirmations (same run, first window): {off.DetectionsPerSecond:F0} detections/s, p50 {off.P50PublishToCommitMs:F0} ms, p95 {off.P95PublishToCommitMs:F0} ms; CPU {string.Join(", ", off.Cpu.Select(x => $"{x.Process} {x.CoresUsed:F2}"))}"));
            Console.WriteLine(string.Create(c, $"With/without: detections/s {r.DetectionsPerSecond / Math.Max(1, off.DetectionsPerSecond):F3}; silo CPU {Cores(r.Cpu, "silos") / Math.Max(0.01, Cores(off.Cpu, "silos")):F2}x; broker CPU {Cores(r.Cpu, "broker") / Math.Max(0.01, Cores(off.Cpu, "broker")):F2}x; simulator CPU {Cores(r.Cpu, "simulator") / Math.Max(0.01, Cores(off.Cpu, "simulator")):F2}x"));
        }

        foreach (var t in targets)
        {
            Console.WriteLine($"{(t.Passed ? "PASS" : "FAIL")}  {t.Name}: {t.Detail}");
        }
    }
}
