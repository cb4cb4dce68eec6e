using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Inference.Scene;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet scene-bench`: the detector on every whole frame against the motion gate with regions and tracking, on a
/// static-camera video preceded by a static stretch, plus tiling's mAP by size and cost. docs/benchmarks.md records its
/// figures and commands; docs/scene.md explains the scene.
/// </summary>
internal static class SceneBenchVerb
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var video = new Option<string>("--video") { Description = "Static-camera video.", DefaultValueFactory = _ => SceneBenchmarkSettings.DefaultVideo };
        var noise = new Option<float>("--noise") { Description = "Sensor-like noise on the static stretch (Gaussian sigma, grey levels).", DefaultValueFactory = _ => 3f };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads.", DefaultValueFactory = _ => 1 };
        var images = new Option<string?>("--tiling-images") { Description = "Labelled images for the tiling figures (default: ../shared/datasets/coco128/images)." };
        var noTiling = new Option<bool>("--no-tiling") { Description = "Skip the tiling figures." };
        var frames = new Option<int?>("--frames", "-n") { Description = "Use only the video's first N frames (and a static stretch as long)." };
        var interval = new Option<double>("--active-interval") { Description = "Seconds between detector runs while something moves.", DefaultValueFactory = _ => new SceneOptions().ActiveDetectionSeconds };
        var keepAlive = new Option<double>("--keep-alive") { Description = "Seconds between whole-frame detector runs while nothing moves.", DefaultValueFactory = _ => new SceneOptions().KeepAliveSeconds };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON object on stdout (progress still goes to stderr)." };
        var command = new Command("scene-bench", "Detector CPU and recall: every whole frame against motion gate + regions + tracking on a static-camera video; tiling's mAP by size.")
        {
            model, video, noise, threads, images, noTiling, frames, interval, keepAlive, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var scene = new SceneOptions
                {
                    ActiveDetectionSeconds = parse.GetValue(interval),
                    KeepAliveSeconds = parse.GetValue(keepAlive),
                };
                var settings = new SceneBenchmarkSettings(
                    parse.GetValue(model) ?? SharedData.YoloxNano416,
                    parse.GetValue(video)!,
                    parse.GetValue(noise),
                    Math.Max(1, parse.GetValue(threads)),
                    parse.GetValue(noTiling) ? null : parse.GetValue(images) ?? SharedData.Coco128Images,
                    parse.GetValue(frames),
                    scene);
                var result = SceneBenchmark.Run(settings, message => Console.Error.WriteLine(message), cancellationToken);
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
                }
                else
                {
                    WriteTable(result);
                }

                return 0;
            }
            catch (Exception ex) when (ex is ModelLoadException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
                or ArgumentException or ImageReadException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
            catch (OperationCanceledException)
            {
                await Console.Error.WriteLineAsync("scene-bench: cancelled");
                return 130;
            }
        });
        return command;
    }

    private static void WriteTable(SceneBenchmarkResult result)
    {
        var output = Console.Out;
        var invariant = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(invariant,
            $"model {result.Model}, {result.Threads} thread(s); video {result.Video} ({result.Width}x{result.Height}, {result.VideoFrames} frames at {result.FramesPerVideoSecond:F1}/s); static stretch noise sigma {result.NoiseSigma}"));
        foreach (var sequence in new[] { result.WithStaticStretch, result.VideoAlone })
        {
            output.WriteLine();
            output.WriteLine($"{sequence.Sequence} ({sequence.WholeFrame.Frames} frames, {sequence.WholeFrame.VideoSeconds:F1} s of video)");
            output.WriteLine("  way                                 detector runs  detector CPU s  CPU s per video s  scene CPU s  frames/s");
            foreach (var run in new[] { sequence.WholeFrame, sequence.Scene })
            {
                output.WriteLine(string.Create(invariant,
                    $"  {run.Name,-34} {run.DetectorInvocations,13}  {run.DetectorCpuSeconds,14:F2}  {run.DetectorCpuPerVideoSecond,17:F3}  {run.SceneCpuSeconds,11:F2}  {run.FramesPerSecond,8:F1}"));
            }

            var comparison = sequence.Comparison;
            var plans = sequence.Plans;
            var parts = result.WithStaticStretch == sequence
                ? string.Create(invariant, $", static stretch {comparison.StaticRecall:F3}, video {comparison.VideoRecall:F3}")
                : "";
            output.WriteLine(string.Create(invariant,
                $"  detector CPU ratio {sequence.CpuRatio:F3} ({sequence.TotalCpuRatio:F3} with the scene's own CPU); recall of (a)'s boxes {comparison.Recall:F3} ({comparison.Matched}/{comparison.ReferenceBoxes}){parts}"));
            output.WriteLine(string.Create(invariant,
                $"  boxes only (b) has: {comparison.OnlyScene} of {comparison.SceneBoxes} ({comparison.OnlySceneDetected} detected, {comparison.OnlySceneCarried} carried by a track)"));
            output.WriteLine(string.Create(invariant,
                $"  (b) frames: {plans.Skipped} skipped, {plans.RegionFrames} on regions ({plans.RegionsPerRegionFrame:F2} per frame), {plans.WholeFrames} whole ({plans.KeepAlives} keep-alive); {plans.Tracks} tracks, {plans.ObjectEvents} object events"));
            output.WriteLine(string.Create(invariant,
                $"  (b) scene CPU per frame: {1000 * sequence.Scene.PlanCpuSeconds / sequence.Scene.Frames:F2} ms motion gate and planning, {1000 * (sequence.Scene.SceneCpuSeconds - sequence.Scene.PlanCpuSeconds) / sequence.Scene.Frames:F2} ms tracking, zones and events; {sequence.Scene.SceneBytesPerFrame:F0} managed bytes allocated per frame"));
            output.WriteLine(sequence.TargetMet switch
            {
                true => "  target (detector CPU ratio at most 1/3, recall at least 0.95): met",
                false => "  target (detector CPU ratio at most 1/3, recall at least 0.95): NOT met",
                null => "  (no target: this shows the gain of regions and tracking during motion on its own)",
            });
        }

        if (result.Tiling is { } tiling)
        {
            output.WriteLine();
            output.WriteLine($"tiling on {tiling.Images} ({tiling.ImageCount} images, {tiling.SmallObjects} small objects; eval protocol: conf 0.001, NMS IoU 0.65, 100 per image)");
            output.WriteLine("  way            mAP    small  medium  large  detector runs  detector CPU s");
            output.WriteLine(string.Create(invariant,
                $"  whole frame  {tiling.WholeMap:F3}  {tiling.WholeMapSmall:F3}   {tiling.WholeMapMedium:F3}  {tiling.WholeMapLarge:F3}  {tiling.WholeInvocations,13}  {tiling.WholeCpuSeconds,14:F2}"));
            output.WriteLine(string.Create(invariant,
                $"  tiles + frame {tiling.TiledMap:F3}  {tiling.TiledMapSmall:F3}   {tiling.TiledMapMedium:F3}  {tiling.TiledMapLarge:F3}  {tiling.TiledInvocations,13}  {tiling.TiledCpuSeconds,14:F2}"));
            output.WriteLine(string.Create(invariant, $"  cost multiple {tiling.CostMultiple:F2}x the whole frame's detector CPU"));
        }
    }
}
