using System.CommandLine;
using System.Globalization;
using Npgsql;
using YoloFleet.Cloud.Data.Entities;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Contracts;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet devices add|list`: the device registry, straight in PostgreSQL. Silos admit a device registered here
/// within a couple of seconds (their cached "unknown" answers expire); POST /api/devices is the same through a silo.
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
                return 2;
            }

            var deviceGroup = parse.GetValue(group);
            if (deviceGroup is { Length: > 0 } && !DeviceDirectory.IsValidGroup(deviceGroup))
            {
                await Console.Error.WriteLineAsync($"error: '{deviceGroup}' is not a valid group name (letters, digits, '-', '_', '.'; at most 64).");
                return 2;
            }

            return await WithDirectoryAsync(parse.GetValue(connection)!, async directory =>
            {
                var status = parse.GetValue(disabled) ? DeviceStatus.Disabled : DeviceStatus.Active;
                var device = await directory.RegisterAsync(deviceId, parse.GetValue(name)!, status, cancellationToken, deviceGroup);
                Console.WriteLine($"Registered {device.DeviceId} ({device.Status}{(device.Group is null ? "" : ", group " + device.Group)}) at {device.RegisteredAt.ToString("u", CultureInfo.InvariantCulture)}");
            });
        });

        var list = new Command("list", "List registered devices.") { connection };
        list.SetAction(async (parse, cancellationToken) => await WithDirectoryAsync(parse.GetValue(connection)!, async directory =>
        {
            var devices = await directory.ListAsync(cancellationToken: cancellationToken);
            Console.WriteLine($"{"device",-24} {"status",-9} {"group",-16} {"registered",-20} {"last seen",-20} name");
            foreach (var d in devices)
            {
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{d.DeviceId,-24} {d.Status,-9} {d.Group ?? "-",-16} {d.RegisteredAt,-20:yyyy-MM-dd HH:mm:ss} {(d.LastSeenAt is { } seen ? seen.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "never"),-20} {d.DisplayName}"));
            }

            Console.WriteLine($"{devices.Count} device(s)");
        }));

        return new Command("devices", "The device registry: only registered, active devices are admitted by the silos.") { add, list };
    }

    private static async Task<int> WithDirectoryAsync(string connectionString, Func<DeviceDirectory, Task> action)
    {
        try
        {
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            await action(new DeviceDirectory(dataSource));
            return 0;
        }
        catch (NpgsqlException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message} (is the database migrated? run `yolofleet db migrate`)");
            return 2;
        }
    }
}
