using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace YoloFleet.Cli.Verbs;

/// <summary>`yolofleet assign NAME[@VERSION] --device ID... | --group G`: a model version for devices, through a silo (docs/registry.md).</summary>
internal static class AssignVerb
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The model and optionally its version: yolox_nano_416 or yolox_nano_416@3 (default: the newest)." };
        var devices = new Option<string[]>("--device", "-d") { Description = "A device to assign it to (repeatable).", AllowMultipleArgumentsPerToken = true };
        var group = new Option<string?>("--group", "-g") { Description = "Every active device of this group." };
        var slot = new Option<string>("--slot") { Description = "active (run it) or shadow (install it beside the active model).", DefaultValueFactory = _ => "active" };
        var maxLatency = new Option<float?>("--max-latency-ms") { Description = "The health check's latency bound on the device (default: its own)." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("assign", "Assign a model version to devices: each gets a retained message with the signed variants; the cloud picks INT8 where the device measured it faster.")
        {
            model, devices, group, slot, maxLatency, url, apiKey, json,
        };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            var (text, version) = SiloApi.ParseModelArgument(parse.GetValue(model)!);

            using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromMinutes(2));
            var request = new { model = text, version, devices = parse.GetValue(devices) ?? [], group = parse.GetValue(group), slot = parse.GetValue(slot), maxLatencyMs = parse.GetValue(maxLatency) };
            var assignment = await api.SendAsync(HttpMethod.Post, "api/assignments", JsonContent.Create(request), cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(assignment.GetRawText());
                return ExitCodes.Ok;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"assignment {assignment.GetProperty("assignmentId").GetString()}: {assignment.GetProperty("model").GetString()} version {assignment.GetProperty("version").GetInt32()} ({assignment.GetProperty("slot").GetString()})"));
            Console.WriteLine($"{"device",-24} {"published",-9} {"variant",-8} reason");
            foreach (var device in assignment.GetProperty("devices").EnumerateArray())
            {
                var precision = device.GetProperty("selectedPrecision") is { ValueKind: JsonValueKind.String } chosen ? chosen.GetString() : "-";
                var reason = device.GetProperty("reason") is { ValueKind: JsonValueKind.String } why ? why.GetString() : "the device benchmarks both variants first";
                Console.WriteLine($"{device.GetProperty("deviceId").GetString(),-24} {(device.GetProperty("published").GetBoolean() ? "yes" : "pending"),-9} {precision,-8} {reason}");
            }

            return ExitCodes.Ok;
        }));
        return command;
    }
}
