using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using YoloFleet.Inference;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Profiling;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet profile`: where a model's run time goes, by operator and by kind of convolution, from ONNX Runtime's own
/// profiler, with the detector's session settings. With --compare, both models and the second's time per operator and
/// per convolution kind as a ratio of the first's: how docs/quantization.md explains an INT8 model's speed.
/// </summary>
internal static class ProfileVerb
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "ONNX model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var compare = new Option<string?>("--compare") { Description = "A second model (e.g. the INT8 one), profiled the same way; adds ratios against the first." };
        var runs = new Option<int>("--runs", "-n") { Description = "Profiled runs per model (one of each model in turn), after 5 warm-up runs.", DefaultValueFactory = _ => 100 };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var spinning = new Option<bool>("--allow-spinning") { Description = "Let ONNX Runtime's threads busy-wait between operators (off by default, as on the edge)." };
        var json = new Option<bool>("--json") { Description = "Print the profiles as one JSON array instead of the tables." };
        var command = new Command("profile", "Profile a model with ONNX Runtime's profiler: kernel time by operator and by convolution kind.")
        {
            model, compare, runs, threads, spinning, json,
        };
        command.SetAction(parse =>
        {
            var (r, t) = (parse.GetValue(runs), parse.GetValue(threads));
            if (r < 1 || t < 1)
            {
                Console.Error.WriteLine("error: --runs and --threads must be at least 1.");
                return 2;
            }

            var paths = new[] { parse.GetValue(model) ?? SharedData.YoloxNano416, parse.GetValue(compare) }.OfType<string>().ToList();
            var options = new DetectorOptions { IntraOpThreads = t, AllowSpinning = parse.GetValue(spinning), LogLevel = OnnxRuntimeLogLevel.Error };
            if (paths.FirstOrDefault(path => !File.Exists(path)) is { } missing)
            {
                Console.Error.WriteLine($"error: model not found: '{Path.GetFullPath(missing)}'.");
                return 2;
            }

            Console.Error.WriteLine($"profiling {string.Join(" and ", paths)} ({r} runs{(paths.Count > 1 ? " each, alternating" : "")})");
            IReadOnlyList<OperatorProfile> profiles;
            try
            {
                profiles = OperatorProfiler.Profile(paths, options, r);
            }
            catch (Exception exception) when (exception is ArgumentException or OnnxModelReadException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                Console.Error.WriteLine($"error: {exception.Message}");
                return 2;
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(profiles, Json));
                return 0;
            }

            foreach (var profile in profiles)
            {
                Console.Write(profile.ToTable());
            }

            if (profiles.Count == 2)
            {
                Console.Write(Ratios(profiles[0], profiles[1]));
            }

            return 0;
        });
        return command;
    }

    /// <summary>The second model's kernel time as a ratio of the first's: in all, and for each kind of convolution.</summary>
    private static string Ratios(OperatorProfile first, OperatorProfile second)
    {
        var invariant = CultureInfo.InvariantCulture;
        var text = new System.Text.StringBuilder();
        text.AppendLine(string.Create(invariant, $"{second.Model} / {first.Model}"));
        text.AppendLine(string.Create(invariant, $"  kernels {second.KernelMillisecondsPerRun:F2} / {first.KernelMillisecondsPerRun:F2} ms = {second.KernelMillisecondsPerRun / first.KernelMillisecondsPerRun:F2}x, wall {second.WallMillisecondsPerRun / first.WallMillisecondsPerRun:F2}x"));
        foreach (var kind in first.Convolutions.Select(kind => kind.Kind).Union(second.Convolutions.Select(kind => kind.Kind)))
        {
            var a = first.Convolutions.FirstOrDefault(candidate => candidate.Kind == kind)?.MillisecondsPerRun ?? 0;
            var b = second.Convolutions.FirstOrDefault(candidate => candidate.Kind == kind)?.MillisecondsPerRun ?? 0;
            var ratio = a > 0 ? (b / a).ToString("F2", invariant) + "x" : "-";
            text.AppendLine(string.Create(invariant, $"  {kind + " convolutions",-25} {b,8:F2} / {a,6:F2} ms = {ratio}"));
        }

        return text.ToString();
    }
}
