using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using YoloFleet.Cloud.Data;
using YoloFleet.Inference;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet demo`: the whole loop on one machine. An embedded MQTT broker and a localhost Orleans silo run in this
/// process with an edge agent that detects objects in the coco128 images; the detections land in PostgreSQL.
/// </summary>
internal static class DemoVerb
{
    public static Command Create()
    {
        var frames = new Option<int>("--frames", "-n") { Description = "Frames the agent processes.", DefaultValueFactory = _ => 20 };
        var device = new Option<string>("--device") { Description = "Device id of the simulated edge agent.", DefaultValueFactory = _ => "demo-pi-01" };
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "PostgreSQL server (the demo creates and resets database yolofleet_demo on it).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_PG") ?? "Host=127.0.0.1;Port=55432;Username=postgres",
        };
        var model = new Option<string?>("--model") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var images = new Option<string?>("--images") { Description = "Image folder (default: ../shared/datasets/coco128/images)." };
        var command = new Command("demo", "Run broker, silo and an edge agent end to end and show what reached PostgreSQL.")
        {
            frames, device, connection, model, images,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var settings = new DemoSettings(
                    parse.GetValue(frames),
                    parse.GetValue(device)!,
                    new NpgsqlConnectionStringBuilder(parse.GetValue(connection)) { Database = "yolofleet_demo" }.ConnectionString,
                    parse.GetValue(model) ?? SharedData.YoloxNano416,
                    parse.GetValue(images) ?? SharedData.Coco128Images);
                return await RunAsync(settings, cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidOperationException or DirectoryNotFoundException or FileNotFoundException or ModelLoadException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
        });
        return command;
    }

    private sealed record DemoSettings(int Frames, string DeviceId, string Database, string ModelPath, string ImageFolder);

    private static async Task<int> RunAsync(DemoSettings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"[1/4] PostgreSQL: resetting database yolofleet_demo and applying migrations");
        await FleetDatabase.DropIfExistsAsync(settings.Database, cancellationToken);
        await FleetDatabase.MigrateAsync(settings.Database, cancellationToken);

        Console.WriteLine("[2/4] Cloud: starting an embedded MQTT broker and a localhost Orleans silo");
        await using var fleet = await LocalFleet.StartCloudAsync(settings.Database, cancellationToken);
        Console.WriteLine($"      broker 127.0.0.1:{fleet.BrokerPort}, silo 127.0.0.1:{fleet.SiloPort}, HTTP {fleet.HttpAddress}");

        Console.WriteLine($"[3/4] Edge: device '{settings.DeviceId}' runs {Path.GetFileName(settings.ModelPath)} on {settings.Frames} images");
        var published = 0;
        var publishedBoxes = 0;
        var run = await fleet.RunAgentAsync(settings.DeviceId, settings.ModelPath, settings.ImageFolder, settings.Frames, message =>
        {
            published++;
            publishedBoxes += message.Detections.Count;
            Console.WriteLine($"      seq {message.Envelope.Sequence,4}  {message.FrameRef,-18} {message.Detections.Count,3} boxes  {message.InferenceMs,6:F1} ms");
            return Task.CompletedTask;
        }, cancellationToken);

        Console.WriteLine("[4/4] Waiting for every frame to commit in PostgreSQL");
        var committed = await fleet.WaitForCommittedAsync(published, TimeSpan.FromSeconds(60), cancellationToken);
        var hardFrames = fleet.Counters.Snapshot().ReceivedByKind.GetValueOrDefault("hardframes");
        await PrintSummaryAsync(settings, run.Model, hardFrames, published, publishedBoxes, committed, clock.Elapsed, cancellationToken);
        return committed == published ? 0 : 1;
    }

    private static async Task PrintSummaryAsync(
        DemoSettings settings, ModelInfo model, long hardFrames, int published, int publishedBoxes, long committed, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(settings.Database);
        var frames = Convert.ToInt64(await Scalar(dataSource, "SELECT count(*) FROM frames", cancellationToken), CultureInfo.InvariantCulture);
        var boxes = Convert.ToInt64(await Scalar(dataSource, "SELECT count(*) FROM detections", cancellationToken), CultureInfo.InvariantCulture);
        Console.WriteLine();
        Console.WriteLine($"Published {published} frames with {publishedBoxes} detections; PostgreSQL holds {frames} frames and {boxes} detections ({elapsed.TotalSeconds:F1} s).");
        Console.WriteLine($"The agent also sent {hardFrames} hard frame(s) (uncertain or sampled, as JPEG with its own boxes) for the cloud's verifier.");
        Console.WriteLine();
        Console.WriteLine("Detections by class (top 8):");
        await using (var command = dataSource.CreateCommand("SELECT class_id, count(*), avg(score) FROM detections GROUP BY class_id ORDER BY count(*) DESC, class_id LIMIT 8"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            var names = model.ClassNames;
            while (await reader.ReadAsync(cancellationToken))
            {
                var classId = reader.GetInt16(0);
                var name = classId < names.Count ? names[classId] : classId.ToString(CultureInfo.InvariantCulture);
                Console.WriteLine($"  {name,-16} {reader.GetInt64(1),5}   mean score {reader.GetDouble(2):F2}");
            }
        }

        Console.WriteLine();
        Console.WriteLine("A few stored rows (detections):");
        Console.WriteLine("  device        seq  idx  class  score      x1      y1      x2      y2");
        await using (var command = dataSource.CreateCommand("SELECT device_id, sequence, idx, class_id, score, x1, y1, x2, y2 FROM detections ORDER BY sequence, idx LIMIT 6"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                Console.WriteLine($"  {reader.GetString(0),-12} {reader.GetInt64(1),4} {reader.GetInt16(2),4} {reader.GetInt16(3),6} {reader.GetFloat(4),6:F3} {reader.GetFloat(5),7:F1} {reader.GetFloat(6),7:F1} {reader.GetFloat(7),7:F1} {reader.GetFloat(8),7:F1}");
            }
        }

        Console.WriteLine();
        Console.WriteLine(committed == published
            ? "OK: every published frame is stored exactly once."
            : $"MISMATCH: {published} published but {committed} committed.");
    }

    private static async Task<object?> Scalar(NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(sql);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
