using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet models upload|list|show|quantize`: the model registry through a silo's API (docs/registry.md). Tables by
/// default, the silo's JSON with --json; exit codes in <see cref="ExitCodes"/>.
/// </summary>
internal static class ModelsVerb
{
    public static Command Create()
    {
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("models", "The model registry: upload FP32 models, list and show versions, quantize to INT8 (alone: list).")
        {
            Upload(), List(), Show(), Quantize(), url, apiKey, json,
        };
        command.SetAction((parse, cancellationToken) => ListAsync(parse.GetValue(url)!, parse.GetValue(apiKey), null, parse.GetValue(json), cancellationToken));
        return command;
    }

    private static Command Upload()
    {
        var model = new Option<string>("--model", "-m") { Description = "The FP32 ONNX model file.", Required = true };
        var manifest = new Option<string?>("--manifest") { Description = "Its manifest (layout, preprocessing, classNames...; default: <model>.manifest.json). The version is assigned by the registry." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("upload", "Register an FP32 model as the next version of its name; the silo checks it against its manifest with the detector.")
        {
            model, manifest, url, apiKey, json,
        };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            var modelPath = Path.GetFullPath(parse.GetValue(model)!);
            var manifestPath = Path.GetFullPath(parse.GetValue(manifest) ?? ModelManifest.PathBeside(modelPath));
            if (!File.Exists(modelPath) || !File.Exists(manifestPath))
            {
                throw new SiloApiException(ExitCodes.Invalid, $"'{(File.Exists(modelPath) ? manifestPath : modelPath)}' does not exist (pass --model and --manifest).");
            }

            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(10));
            await using var file = File.OpenRead(modelPath);
            using var form = new MultipartFormDataContent();
            var modelPart = new StreamContent(file);
            modelPart.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(new StringContent(await File.ReadAllTextAsync(manifestPath, cancellationToken)), "manifest");
            form.Add(modelPart, "model", Path.GetFileName(modelPath));
            var version = await api.SendAsync(HttpMethod.Post, "api/models", form, cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(version.GetRawText());
                return ExitCodes.Ok;
            }

            PrintVersions([version]);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List()
    {
        var name = new Option<string?>("--name") { Description = "Only this model's versions." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("list", "List registered model versions and their variants (every page).") { name, url, apiKey, json };
        command.SetAction((parse, cancellationToken) => ListAsync(parse.GetValue(url)!, parse.GetValue(apiKey), parse.GetValue(name), parse.GetValue(json), cancellationToken));
        return command;
    }

    /// <summary>`models list` (and `models` alone): every version, page after page, as a table or one JSON array.</summary>
    private static Task<int> ListAsync(string url, string? apiKey, string? name, bool json, CancellationToken cancellationToken) => SiloApi.RunAsync(async () =>
    {
        using var api = new SiloApi(url, apiKey, TimeSpan.FromSeconds(30));
        var path = name is { } only ? "api/models/" + Uri.EscapeDataString(only) : "api/models";
        var versions = await api.ListAllAsync(path, cancellationToken);
        if (json)
        {
            Console.WriteLine(versions.GetRawText());
            return ExitCodes.Ok;
        }

        PrintVersions([.. versions.EnumerateArray()]);
        Console.WriteLine($"{versions.GetArrayLength()} version(s)");
        return ExitCodes.Ok;
    });

    private static Command Show()
    {
        var name = new Argument<string>("name") { Description = "The model: yolox_nano_416, or yolox_nano_416@3 for a version (default: the newest)." };
        var version = new Argument<int?>("version") { Description = "The version, as an alternative to NAME@VERSION.", Arity = ArgumentArity.ZeroOrOne };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("show", "Show a version: its variants, signing key, lineage and the INT8 report.") { name, version, url, apiKey, json };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            var (modelName, atVersion) = SiloApi.ParseModelArgument(parse.GetValue(name)!);
            if (atVersion is not null && parse.GetValue(version) is not null)
            {
                throw new SiloApiException(ExitCodes.Invalid, $"name the version once: '{parse.GetValue(name)}' or '{modelName} {parse.GetValue(version)}'.");
            }

            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromSeconds(30));
            var number = atVersion ?? parse.GetValue(version) ?? await LatestVersionAsync(api, modelName, cancellationToken);
            var details = await api.SendAsync(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"api/models/{Uri.EscapeDataString(modelName)}/{number}"), null, cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(details.GetRawText());
                return ExitCodes.Ok;
            }

            PrintVersions([details]);
            foreach (var variant in details.GetProperty("variants").EnumerateArray())
            {
                var precision = variant.GetProperty("precision").GetString();
                Console.WriteLine();
                Console.WriteLine($"{precision}: sha256 {variant.GetProperty("sha256").GetString()}, signed by {variant.GetProperty("signingKeyId").GetString()}");
                if (variant.TryGetProperty("manifest", out var manifest) && manifest.TryGetProperty("lineage", out var lineage))
                {
                    var calibration = lineage.GetProperty("calibration");
                    Console.WriteLine($"  from {lineage.GetProperty("parentVersion").GetString()} ({lineage.GetProperty("parentSha256").GetString()?[..12]}), " +
                        $"calibrated on {calibration.GetProperty("frames").GetInt32()} {calibration.GetProperty("source").GetString()} frames (frames SHA-256 {calibration.GetProperty("framesSha256").GetString()?[..12]})");
                }

                if (variant.TryGetProperty("report", out var report) && report.ValueKind == JsonValueKind.Object)
                {
                    var agreement = report.GetProperty("agreement");
                    var latency = report.GetProperty("latency");
                    var size = report.GetProperty("size");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  against FP32 on {agreement.GetProperty("heldOutFrames").GetInt32()} held-out frames: precision {agreement.GetProperty("precision").GetDouble():F3}, " +
                        $"recall {agreement.GetProperty("recall").GetDouble():F3}, mean IoU {agreement.GetProperty("meanIou").GetDouble():F3}"));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  latency on the silo {latency.GetProperty("int8P50Ms").GetDouble():F1} ms vs {latency.GetProperty("fp32P50Ms").GetDouble():F1} ms (ratio {latency.GetProperty("ratio").GetDouble():F2}); " +
                        $"size ratio {size.GetProperty("ratio").GetDouble():F2}"));
                }
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Quantize()
    {
        var name = new Argument<string>("name") { Description = "The model's name." };
        var version = new Argument<int?>("version") { Description = "The FP32 version to quantize (default: the newest).", Arity = ArgumentArity.ZeroOrOne };
        var wait = new Option<bool>("--wait") { Description = "Wait for the job to finish, printing its progress to stderr." };
        var timeout = new Option<int>("--timeout") { Description = "With --wait: give up after this many seconds (exit code 6).", DefaultValueFactory = _ => 3600 };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("quantize", "Start (or find) the INT8 quantize job of a version: calibrated on the fleet's hard frames, compared with FP32 on held-out ones.")
        {
            name, version, wait, timeout, url, apiKey, json,
        };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(2));
            var modelName = parse.GetValue(name)!;
            var number = parse.GetValue(version) ?? await LatestVersionAsync(api, modelName, cancellationToken);
            var job = await api.SendAsync(HttpMethod.Post, string.Create(CultureInfo.InvariantCulture, $"api/models/{Uri.EscapeDataString(modelName)}/{number}/quantize"), null, cancellationToken);
            var id = job.GetProperty("id").GetInt64();
            if (parse.GetValue(wait))
            {
                var deadline = DateTime.UtcNow.AddSeconds(parse.GetValue(timeout));
                var last = "";
                while (job.GetProperty("state").GetString() is "queued" or "running")
                {
                    var line = $"job {id}: {job.GetProperty("state").GetString()} {job.GetProperty("percent").GetInt32()}% {job.GetProperty("message").GetString()}";
                    if (line != last)
                    {
                        await Console.Error.WriteLineAsync(line);
                        last = line;
                    }

                    if (DateTime.UtcNow > deadline)
                    {
                        throw new SiloApiException(ExitCodes.JobFailed, $"job {id} did not finish within {parse.GetValue(timeout)} s; it goes on (GET /api/jobs/{id}).");
                    }

                    await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                    job = await api.SendAsync(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"api/jobs/{id}"), null, cancellationToken);
                }
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(job.GetRawText());
            }
            else
            {
                PrintJob(job);
            }

            return job.GetProperty("state").GetString() == "failed" ? ExitCodes.JobFailed : ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The newest version of <paramref name="name"/>: the first item of its list, which is newest first.</summary>
    internal static async Task<int> LatestVersionAsync(SiloApi api, string name, CancellationToken cancellationToken)
    {
        var versions = (await api.SendAsync(HttpMethod.Get, "api/models/" + Uri.EscapeDataString(name) + "?limit=1", null, cancellationToken)).GetProperty("items");
        return versions.GetArrayLength() > 0
            ? versions[0].GetProperty("version").GetInt32()
            : throw new SiloApiException(ExitCodes.NotFound, $"no model named '{name}' is registered");
    }

    private static void PrintVersions(IReadOnlyList<JsonElement> versions)
    {
        Console.WriteLine($"{"model",-28} {"version",7} {"precision",-9} {"sha256",-14} {"bytes",11} {"key",-22} created");
        foreach (var version in versions)
        {
            foreach (var variant in version.GetProperty("variants").EnumerateArray())
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{version.GetProperty("name").GetString(),-28} {version.GetProperty("version").GetInt32(),7} {variant.GetProperty("precision").GetString(),-9} " +
                    $"{variant.GetProperty("sha256").GetString()![..12],-14} {variant.GetProperty("sizeBytes").GetInt64(),11} {variant.GetProperty("signingKeyId").GetString(),-22} " +
                    $"{variant.GetProperty("createdAt").GetDateTimeOffset():yyyy-MM-dd HH:mm:ss}"));
            }
        }
    }

    private static void PrintJob(JsonElement job)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"job {job.GetProperty("id").GetInt64()} ({job.GetProperty("model").GetString()} version {job.GetProperty("version").GetInt32()}): " +
            $"{job.GetProperty("state").GetString()}, {job.GetProperty("percent").GetInt32()}%, {job.GetProperty("message").GetString()}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  calibration: {job.GetProperty("calibrationFrames").GetInt32()} {job.GetProperty("calibrationSource").GetString()} frames, {job.GetProperty("heldOutFrames").GetInt32()} held out"));
        if (job.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String)
        {
            Console.WriteLine("  error: " + error.GetString());
        }

        if (job.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.Object)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  INT8: version {result.GetProperty("version").GetInt32()}, sha256 {result.GetProperty("sha256").GetString()}, {result.GetProperty("sizeBytes").GetInt64()} bytes"));
        }
    }
}
