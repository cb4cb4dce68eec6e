using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using YoloFleet.Cloud.Abstractions;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet rollout start|status|list|promote|pause|resume|abort`: staged rollouts through a silo's API
/// (docs/rollout.md). A thin HTTP client, like `assign`.
/// </summary>
internal static class RolloutVerb
{
    public static Command Create()
    {
        var command = new Command("rollout", "Staged rollouts of a candidate model version: start one, follow it, and promote, pause, resume or abort it by hand.")
        {
            Start(),
            Status(),
            List(),
            Operate("promote", "Move to the next stage (or complete) now, whatever the gates say."),
            Operate("pause", "Stop the gates and stages from moving; devices keep what they run."),
            Operate("resume", "Resume a paused rollout."),
            Operate("abort", "End the rollout and send every device that got the candidate back to its previous model."),
        };
        return command;
    }

    private static Command Start()
    {
        var model = new Argument<string>("model") { Description = "The candidate: yolox_nano_416@3, or a name alone for its newest version." };
        var baseline = new Option<int?>("--baseline") { Description = "The version the control runs (default: the newest below the candidate)." };
        var devices = new Option<string[]>("--device", "-d") { Description = "Target this device (repeatable).", AllowMultipleArgumentsPerToken = true };
        var group = new Option<string?>("--group", "-g") { Description = "Target this device group (default: the whole fleet)." };
        var stages = new Option<string[]>("--stage")
        {
            Description = "A stage as PERCENT:SOAK:HARD_FRAMES[:LATENCY_REPORTS[:SHADOW_WINDOWS]], e.g. 5:1h:100:10, or a shadow stage as "
                + "shadow:PERCENT:SOAK[:SHADOW_WINDOWS], e.g. shadow:25:2h:10, before the others (repeatable, in order; default 5 %, 25 %, 100 %).",
            AllowMultipleArgumentsPerToken = true,
        };
        var regression = new Option<double?>("--regression") { Description = "The agreement drop the test must catch, in points (default 3)." };
        var alpha = new Option<double?>("--false-rollback") { Description = "α, the false roll-back rate (default 0.05)." };
        var beta = new Option<double?>("--missed-regression") { Description = "β, the missed regression rate (default 0.05)." };
        var latency = new Option<double?>("--max-latency-ratio") { Description = "Roll back when the candidate's p95 exceeds the control's by this factor (default 1.25)." };
        var refusals = new Option<double?>("--max-refusal-share") { Description = "Roll back when more than this share of a stage's devices refuse the candidate (default 0.25)." };
        var divergence = new Option<double?>("--max-shadow-divergence")
        {
            Description = "The share of boxes the candidate in shadow may disagree on before FP32 must side with it (default 0.25).",
        };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("start", "Start a staged rollout of a candidate version against a baseline.")
        {
            model, baseline, devices, group, stages, regression, alpha, beta, latency, refusals, divergence, url, apiKey, json,
        };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            var (text, version) = SiloApi.ParseModelArgument(parse.GetValue(model)!);

            var stageList = (parse.GetValue(stages) ?? []).Select(ParseStage).ToArray();
            var gates = new Dictionary<string, double>();
            void Gate(string name, double? value)
            {
                if (value is { } v)
                {
                    gates[name] = v;
                }
            }

            Gate("regression", parse.GetValue(regression) / 100);
            Gate("falseRollback", parse.GetValue(alpha));
            Gate("missedRegression", parse.GetValue(beta));
            Gate("maxLatencyRatio", parse.GetValue(latency));
            Gate("maxRefusalShare", parse.GetValue(refusals));
            Gate("maxShadowDivergence", parse.GetValue(divergence));
            var request = new
            {
                model = text,
                candidateVersion = version,
                baselineVersion = parse.GetValue(baseline),
                group = parse.GetValue(group),
                devices = parse.GetValue(devices) is { Length: > 0 } listed ? listed : null,
                stages = stageList.Length > 0 ? stageList : null,
                gates = gates.Count > 0 ? gates : null,
            };
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(2));
            var status = await api.SendAsync(HttpMethod.Post, "api/rollouts", JsonContent.Create(request), cancellationToken);
            Print(status, parse.GetValue(json));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<string>("id") { Description = "The rollout's id (ro-...)." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("status", "A rollout's stage, devices, last gate figures, verdict and audit trail.") { id, url, apiKey, json };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(1));
            Print(await api.SendAsync(HttpMethod.Get, "api/rollouts/" + Uri.EscapeDataString(parse.GetValue(id)!), null, cancellationToken), parse.GetValue(json));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("list", "Rollouts, newest first.") { url, apiKey, json };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(1));
            var list = await api.ListAllAsync("api/rollouts", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(list.GetRawText());
                return ExitCodes.Ok;
            }

            Console.WriteLine($"{"id",-36} {"model",-24} {"state",-12} stage");
            foreach (var r in list.EnumerateArray())
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.GetProperty("id").GetString(),-36} {r.GetProperty("model").GetString() + "@" + r.GetProperty("candidateVersion").GetInt32(),-24} {r.GetProperty("state").GetString(),-12} {r.GetProperty("stage").GetInt32()}"));
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Operate(string verb, string description)
    {
        var id = new Argument<string>("id") { Description = "The rollout's id (ro-...)." };
        var reason = new Option<string?>("--reason") { Description = "Why, for the audit trail." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command(verb, description) { id, reason, url, apiKey, json };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(2));
            var status = await api.SendAsync(
                HttpMethod.Post, $"api/rollouts/{Uri.EscapeDataString(parse.GetValue(id)!)}/{verb}", JsonContent.Create(new { reason = parse.GetValue(reason) }), cancellationToken);
            Print(status, parse.GetValue(json));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// "5:1h:100:10[:8]" → a stage: percent, soak (s, m, h, d or hh:mm:ss), verified hard frames per group, latency reports
    /// per group, shadow windows; "shadow:25:2h[:8]" → a shadow stage: percent, soak, shadow windows.
    /// </summary>
    internal static object ParseStage(string text)
    {
        const string ShadowPrefix = "shadow:";
        if (text.StartsWith(ShadowPrefix, StringComparison.Ordinal))
        {
            var shadowParts = text[ShadowPrefix.Length..].Split(':', 3);
            if (shadowParts.Length < 2
                || !double.TryParse(shadowParts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var shadowPercent)
                || ParseDuration(shadowParts[1]) is not { } shadowSoak)
            {
                throw new SiloApiException(ExitCodes.Invalid, $"--stage '{text}': write shadow:PERCENT:SOAK[:SHADOW_WINDOWS], e.g. shadow:25:2h:10.");
            }

            return new
            {
                percent = shadowPercent,
                minSoak = shadowSoak.ToString("c", CultureInfo.InvariantCulture),
                minAgreementSamples = 0,
                minLatencySamples = 0,
                shadow = true,
                minShadowWindows = Count(text, shadowParts, 2, "shadow windows", RolloutStageSpec.DefaultMinShadowWindows),
            };
        }

        var parts = text.Split(':', 5);
        if (parts.Length < 3
            || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent)
            || ParseDuration(parts[1]) is not { } soak
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var frames))
        {
            throw new SiloApiException(ExitCodes.Invalid, $"--stage '{text}': write PERCENT:SOAK:HARD_FRAMES[:LATENCY_REPORTS[:SHADOW_WINDOWS]], e.g. 5:1h:100:10.");
        }

        return new
        {
            percent,
            minSoak = soak.ToString("c", CultureInfo.InvariantCulture),
            minAgreementSamples = frames,
            minLatencySamples = Count(text, parts, 3, "latency reports", 0),
            shadow = false,
            minShadowWindows = Count(text, parts, 4, "shadow windows", RolloutStageSpec.DefaultMinShadowWindows),
        };
    }

    /// <summary>The whole number at <paramref name="index"/> of a stage's parts, or <paramref name="absent"/>.</summary>
    private static int Count(string text, string[] parts, int index, string what, int absent) =>
        parts.Length <= index ? absent
        : int.TryParse(parts[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new SiloApiException(ExitCodes.Invalid, $"--stage '{text}': the {what} ('{parts[index]}') must be a whole number.");

    private static TimeSpan? ParseDuration(string text)
    {
        if (text.Length > 1 && double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0)
        {
            switch (text[^1])
            {
                case 's': return TimeSpan.FromSeconds(value);
                case 'm': return TimeSpan.FromMinutes(value);
                case 'h': return TimeSpan.FromHours(value);
                case 'd': return TimeSpan.FromDays(value);
            }
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) ? span : null;
    }

    private static void Print(JsonElement status, bool json)
    {
        if (json)
        {
            Console.WriteLine(status.GetRawText());
            return;
        }

        var stages = status.GetProperty("stages").EnumerateArray().ToList();
        var index = status.GetProperty("stageIndex").GetInt32();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rollout {status.GetProperty("id").GetString()}: {status.GetProperty("model").GetString()}@{status.GetProperty("candidateVersion").GetInt32()} against @{status.GetProperty("baselineVersion").GetInt32()}, {status.GetProperty("state").GetString()}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stage {index + 1} of {stages.Count} ({stages[index].GetProperty("percent").GetDouble():0.##} %): {status.GetProperty("stageDevices").GetArrayLength()} of {status.GetProperty("targetDevices").GetArrayLength()} device(s) on the candidate"));
        if (status.GetProperty("reason").GetString() is { Length: > 0 } reason)
        {
            Console.WriteLine("reason: " + reason);
        }

        if (status.GetProperty("lastGate") is { ValueKind: JsonValueKind.Object } gate)
        {
            var a = gate.GetProperty("agreement");
            var l = gate.GetProperty("latency");
            Console.WriteLine($"last gate: {gate.GetProperty("verdict").GetString()}: {gate.GetProperty("reason").GetString()}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  agreement: control {a.GetProperty("controlMean").GetDouble():F4} (n={a.GetProperty("controlSamples").GetInt64()}), candidate {a.GetProperty("candidateMean").GetDouble():F4} (n={a.GetProperty("candidateSamples").GetInt64()}), log-LR {a.GetProperty("logLikelihoodRatio").GetDouble():F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  latency p95: control {Ms(l.GetProperty("controlP95Ms"))} (n={l.GetProperty("controlSamples").GetInt64()}), candidate {Ms(l.GetProperty("candidateP95Ms"))} (n={l.GetProperty("candidateSamples").GetInt64()})"));
            Console.WriteLine($"  shadow: {gate.GetProperty("shadow").GetString()}");
        }

        PrintVariants(status);
        Console.WriteLine("events:");
        foreach (var e in status.GetProperty("events").EnumerateArray())
        {
            Console.WriteLine($"  {e.GetProperty("at").GetDateTimeOffset():u} {e.GetProperty("actor").GetString(),-8} {e.GetProperty("kind").GetString(),-14} {e.GetProperty("reason").GetString()}");
        }
    }

    /// <summary>Each device's variant of the candidate and why the registry chose it (the API's <c>variants</c>).</summary>
    private static void PrintVariants(JsonElement status)
    {
        if (!status.TryGetProperty("variants", out var variants) || variants.ValueKind != JsonValueKind.Array || variants.GetArrayLength() == 0)
        {
            return;
        }

        Console.WriteLine("variants:");
        Console.WriteLine($"  {"device",-24} {"precision",-12} {"sha256",-12}  {"assignment",-24} why");
        foreach (var v in variants.EnumerateArray())
        {
            var precision = Text(v, "precision") is { Length: > 0 } p ? p : "benchmarking";
            var sha = Text(v, "sha256") is { Length: > 0 } s ? s[..Math.Min(12, s.Length)] : "-";
            Console.WriteLine($"  {Text(v, "deviceId"),-24} {precision,-12} {sha,-12}  {Text(v, "assignmentId"),-24} {Text(v, "reason")}");
        }
    }

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    private static string Ms(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number ? value.GetDouble().ToString("F1", CultureInfo.InvariantCulture) + " ms" : "-";
}
