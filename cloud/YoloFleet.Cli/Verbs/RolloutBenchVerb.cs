using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using YoloFleet.Cloud.Rollout.Statistics;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet rollout-bench [--json]`: for a simulated fleet, how many verified hard frames and how much time a stage
/// needs before the sequential test decides, for regressions of 0, 1, 3 and 10 points of agreement (docs/benchmarks.md).
/// </summary>
internal static class RolloutBenchVerb
{
    public static Command Create()
    {
        var devices = new Option<int>("--devices") { Description = "Devices in the target.", DefaultValueFactory = _ => 200 };
        var percent = new Option<double>("--stage-percent") { Description = "The stage's share on the candidate.", DefaultValueFactory = _ => 5 };
        var rate = new Option<double>("--hard-frames-per-hour") { Description = "Verified hard frames per device per hour.", DefaultValueFactory = _ => 30 };
        var mean = new Option<double>("--control-agreement") { Description = "The control's mean agreement with FP32.", DefaultValueFactory = _ => 0.80 };
        var delta = new Option<double>("--regression") { Description = "The test's design: the regression it must catch, in points.", DefaultValueFactory = _ => 3 };
        var repetitions = new Option<int>("--repetitions") { Description = "Simulated stages per regression size.", DefaultValueFactory = _ => 400 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 20261207 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("rollout-bench", "How many verified hard frames and how long a rollout stage needs before the sequential test decides, on a simulated fleet.")
        {
            devices, percent, rate, mean, delta, repetitions, seed, json,
        };
        command.SetAction(parse =>
        {
            var fleet = new StageSimulationSettings(parse.GetValue(devices), parse.GetValue(percent), parse.GetValue(rate), parse.GetValue(mean));
            var design = new SequentialTestDesign(Regression: parse.GetValue(delta) / 100);
            var problem = fleet.Devices < 2 || !(fleet.StagePercent is > 0 and < 100) || !(fleet.HardFramesPerDeviceHour > 0) || !(fleet.ControlMean is > 0.1 and <= 1)
                || parse.GetValue(repetitions) is < 1 or > 100_000
                ? "need --devices ≥ 2, --stage-percent in (0, 100), --hard-frames-per-hour > 0, --control-agreement in (0.1, 1], --repetitions 1..100000."
                : null;
            try
            {
                design.Validate();
            }
            catch (ArgumentOutOfRangeException ex)
            {
                problem ??= "--regression: " + ex.Message;
            }

            if (problem is not null)
            {
                Console.Error.WriteLine("error: " + problem);
                return ExitCodes.Invalid;
            }

            var random = new Random(parse.GetValue(seed));
            var started = DateTime.UtcNow;
            var results = new[] { 0.0, 0.01, 0.03, 0.10 }
                .Select(regression => StageSimulation.Run(design, fleet, regression, parse.GetValue(repetitions), random)).ToList();
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { fleet, design, results, seconds = (DateTime.UtcNow - started).TotalSeconds }, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
                return ExitCodes.Ok;
            }

            var candidates = Math.Clamp((int)Math.Round(fleet.Devices * fleet.StagePercent / 100), 1, fleet.Devices - 1);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fleet: {fleet.Devices} devices, stage {fleet.StagePercent:0.##} % ({candidates} on the candidate), {fleet.HardFramesPerDeviceHour:0.#} verified hard frames per device-hour, control agreement {fleet.ControlMean:F2}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"test: Δ {design.Regression * 100:0.#} points, α {design.FalseRollback:P0}, β {design.MissedRegression:P0}, at least {design.MinSamplesPerGroup} per group; {parse.GetValue(repetitions)} stages per row"));
            Console.WriteLine($"{"regression",10} {"rolled back",11} {"cand. frames p50",16} {"p90",7} {"ctrl frames p50",15} {"hours p50",9} {"p90",7}");
            foreach (var r in results)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Regression * 100,8:0.#} pt {r.RollbackShare,11:P1} {r.MedianCandidateFrames,16:0} {r.P90CandidateFrames,7:0} {r.MedianControlFrames,15:0} {r.MedianHours,9:0.0} {r.P90Hours,7:0.0}"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
