using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Npgsql;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Contracts;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet devices [list|show ID|add ID]`. `add` writes the registry straight in PostgreSQL (so a device can be
/// registered before any silo runs; silos admit it within a couple of seconds, as their cached "unknown" answers
/// expire; POST /api/devices is the same through a silo). `list` and `show` read through a silo's API with the
/// operator or read-only key, tables by default and JSON with --json; exit codes in <see cref="ExitCodes"/>.
/// </summary>
internal static class DevicesVerb
{
    public static Command Create()
    {
        var connection = new Option<string>("--connection", "-c")
        {
            Description = "Npgsql connection string of the fleet database (default: YOLOFLEET_DATABASE, else the deploy/services.sh instance).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("YOLOFLEET_DATABASE") ?? DatabaseVerb.DefaultConnection,
        };
        var id = new Argument<string>("device-id") { Description = "The device id (letters, digits, '-', '_'; at most 64)." };
        var name = new Option<string>("--name") { Description = "Display name.", DefaultValueFactory = _ => "" };
        var disabled = new Option<bool>("--disabled") { Description = "Register (or switch) the device as disabled: its messages are dropped." };
        var group = new Option<string?>("--group") { Description = "Put the device in this group (assignments can name a group); \"\" takes it out. Left out: unchanged." };
        var add = new Command("add", "Register a device, or update its name, status and group.") { id, name, disabled, group, connection };
        add.SetAction(async (parse, cancellationToken) =>
        {
            var deviceId = parse.GetValue(id)!;
            if (!DeviceIds.IsValid(deviceId))
            {
                await Console.Error.WriteLineAsync($"error: '{deviceId}' is not a valid device id (letters, digits, '-', '_'; at most 64).");
                return ExitCodes.Invalid;
            }

            var deviceGroup = parse.GetValue(group);
            if (deviceGroup is { Length: > 0 } && !DeviceDirectory.IsValidGroup(deviceGroup))
            {
                await Console.Error.WriteLineAsync($"error: '{deviceGroup}' is not a valid group name (letters, digits, '-', '_', '.'; at most 64).");
                return ExitCodes.Invalid;
            }

            return await WithDirectoryAsync(parse.GetValue(connection)!, async directory =>
            {
                var status = parse.GetValue(disabled) ? DeviceStatus.Disabled : DeviceStatus.Active;
                var device = await directory.RegisterAsync(deviceId, parse.GetValue(name)!, status, cancellationToken, deviceGroup);
                Console.WriteLine($"Registered {device.DeviceId} ({device.Status}{(device.Group is null ? "" : ", group " + device.Group)}) at {device.RegisteredAt.ToString("u", CultureInfo.InvariantCulture)}");
            });
        });

        var list = new Command("list", "List registered devices through a silo (every page): status, group, registered, last seen, name.");
        var (listUrl, listKey, listJson) = AddSiloOptions(list);
        list.SetAction((parse, cancellationToken) => ListAsync(parse.GetValue(listUrl)!, parse.GetValue(listKey), parse.GetValue(listJson), cancellationToken));

        var showId = new Argument<string>("device-id") { Description = "The device id." };
        var show = new Command("show", "Show a device as its grain holds it (last seen, sequences, frames, health, models) and its model twin.") { showId };
        var (showUrl, showKey, showJson) = AddSiloOptions(show);
        show.SetAction((parse, cancellationToken) => ShowAsync(parse.GetValue(showUrl)!, parse.GetValue(showKey), parse.GetValue(showId)!, parse.GetValue(showJson), cancellationToken));

        var command = new Command("devices", "The device registry: only registered, active devices are admitted by the silos (alone: list).") { add, list, show };
        var (url, apiKey, json) = AddSiloOptions(command);
        command.SetAction((parse, cancellationToken) => ListAsync(parse.GetValue(url)!, parse.GetValue(apiKey), parse.GetValue(json), cancellationToken));
        return command;
    }

    private static (Option<string> Url, Option<string?> ApiKey, Option<bool> Json) AddSiloOptions(Command command)
    {
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        command.Options.Add(url);
        command.Options.Add(apiKey);
        command.Options.Add(json);
        return (url, apiKey, json);
    }

    /// <summary>`devices list` (and `devices` alone): GET /api/devices page after page; a table, or one JSON array with --json.</summary>
    private static Task<int> ListAsync(string url, string? apiKey, bool json, CancellationToken cancellationToken) => SiloApi.RunAsync(async () =>
    {
        using var api = new SiloApi(url, apiKey, TimeSpan.FromSeconds(30));
        var devices = await api.ListAllAsync("api/devices", cancellationToken);
        if (json)
        {
            Console.WriteLine(devices.GetRawText());
            return ExitCodes.Ok;
        }

        Console.WriteLine($"{"device",-24} {"status",-9} {"group",-16} {"registered",-20} {"last seen",-20} name");
        foreach (var d in devices.EnumerateArray())
        {
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{d.GetProperty("deviceId").GetString(),-24} {d.GetProperty("status").GetString(),-9} {Text(d, "group") ?? "-",-16} {Time(d, "registeredAt") ?? "-",-20} {Time(d, "lastSeenAt") ?? "never",-20} {Text(d, "displayName")}"));
        }

        Console.WriteLine($"{devices.GetArrayLength()} device(s)");
        return ExitCodes.Ok;
    });

    /// <summary>`devices show ID`: the grain's view (GET /api/devices/{id}) and the model twin (…/twin).</summary>
    private static Task<int> ShowAsync(string url, string? apiKey, string deviceId, bool json, CancellationToken cancellationToken) => SiloApi.RunAsync(async () =>
    {
        if (!DeviceIds.IsValid(deviceId))
        {
            throw new SiloApiException(ExitCodes.Invalid, $"'{deviceId}' is not a valid device id (letters, digits, '-', '_'; at most 64).");
        }

        using var api = new SiloApi(url, apiKey, TimeSpan.FromSeconds(30));
        var path = "api/devices/" + Uri.EscapeDataString(deviceId);
        var device = await api.SendAsync(HttpMethod.Get, path, null, cancellationToken);
        var twin = await api.SendAsync(HttpMethod.Get, path + "/twin", null, cancellationToken);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { device, twin }));
            return ExitCodes.Ok;
        }

        Console.WriteLine($"device:            {deviceId}");
        Console.WriteLine($"last seen:         {Time(device, "lastSeenAt") ?? "never"}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"frames:            {device.GetProperty("frames").GetInt64()} ({device.GetProperty("detections").GetInt64()} detections, {device.GetProperty("duplicates").GetInt64()} duplicates)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sequence:          highest {device.GetProperty("highestSequence").GetInt64()}, missing {device.GetProperty("missingSequences").GetInt64()}"));
        Console.WriteLine($"model:             {Text(device, "modelVersion") ?? "-"}{(Text(device, "candidateModelVersion") is { } candidate ? $" (candidate {candidate})" : "")}");
        Console.WriteLine($"model twin:        {(twin.TryGetProperty("inSync", out var inSync) && inSync.GetBoolean() ? "in sync" : "drifting")}");
        if (twin.TryGetProperty("drift", out var drift) && drift.ValueKind == JsonValueKind.Object)
        {
            Console.WriteLine($"  drift:           {drift.GetRawText()}");
        }

        if (device.TryGetProperty("health", out var health) && health.ValueKind == JsonValueKind.Object)
        {
            Console.WriteLine($"health:            {health.GetRawText()}");
        }

        return ExitCodes.Ok;
    });

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Time(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : null;

    private static async Task<int> WithDirectoryAsync(string connectionString, Func<DeviceDirectory, Task> action)
    {
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await action(new DeviceDirectory(dataSource));
            return ExitCodes.Ok;
        }
        catch (PostgresException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.MessageText} (is the database migrated? run `yolofleet db migrate`)");
            return ExitCodes.Invalid;
        }
        catch (NpgsqlException ex)
        {
            await Console.Error.WriteLineAsync($"error: cannot reach the database: {ex.Message}");
            return ExitCodes.Unavailable;
        }
    }
}
