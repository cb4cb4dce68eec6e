using Npgsql;
using YoloFleet.Cloud.Data.Entities;

namespace YoloFleet.Cloud.Data.Registry;

/// <summary>A registered device as operators see it.</summary>
/// <param name="Group">The device group an assignment can name instead of listing devices; null for none.</param>
public sealed record RegisteredDevice(
    string DeviceId, string DisplayName, string Status, DateTimeOffset RegisteredAt, DateTimeOffset? FirstSeenAt, DateTimeOffset? LastSeenAt,
    string? Group = null);

/// <summary>The device registry in PostgreSQL (table devices): register, look up, list.</summary>
public sealed class DeviceDirectory(NpgsqlDataSource dataSource)
{
    private const string Columns = "device_id, display_name, status, registered_at, first_seen_at, last_seen_at, device_group";

    /// <summary>
    /// Registers a device, or updates its display name and status when it exists (registered_at is kept). Returns the row.
    /// <paramref name="group"/> null keeps the device's group, "" removes it, anything else sets it.
    /// </summary>
    /// <exception cref="ArgumentException">The status is not one of <see cref="DeviceStatus"/>, or the group is not a valid group name.</exception>
    public async Task<RegisteredDevice> RegisterAsync(
        string deviceId, string displayName, string status = DeviceStatus.Active, CancellationToken cancellationToken = default, string? group = null)
    {
        if (!DeviceStatus.IsValid(status))
        {
            throw new ArgumentException($"Device status '{status}' is not one of: {DeviceStatus.Active}, {DeviceStatus.Disabled}.", nameof(status));
        }

        if (group is { Length: > 0 } && !IsValidGroup(group))
        {
            throw new ArgumentException($"Device group '{group}' is invalid: use 1-64 letters, digits, '_', '-' or '.'.", nameof(group));
        }

        await using var command = dataSource.CreateCommand($"""
            INSERT INTO devices (device_id, display_name, status, registered_at, device_group) VALUES ($1, $2, $3, now(), NULLIF($4, ''))
            ON CONFLICT (device_id) DO UPDATE SET display_name = EXCLUDED.display_name, status = EXCLUDED.status,
                device_group = CASE WHEN $4 IS NULL THEN devices.device_group ELSE NULLIF($4, '') END
            RETURNING {Columns}
            """);
        command.Parameters.AddWithValue(deviceId);
        command.Parameters.AddWithValue(displayName);
        command.Parameters.AddWithValue(status);
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, TypedValue = group });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return Read(reader);
    }

    public async Task<RegisteredDevice?> FindAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM devices WHERE device_id = $1");
        command.Parameters.AddWithValue(deviceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>The first <paramref name="limit"/> devices in id order.</summary>
    public Task<IReadOnlyList<RegisteredDevice>> ListAsync(int limit = 1000, CancellationToken cancellationToken = default) =>
        ListPageAsync(null, limit, cancellationToken);

    /// <summary>A page of devices in id order: the first <paramref name="limit"/> after <paramref name="afterId"/> (keyset, from the start when null).</summary>
    public async Task<IReadOnlyList<RegisteredDevice>> ListPageAsync(string? afterId, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM devices WHERE ($1::text IS NULL OR device_id > $1) ORDER BY device_id LIMIT $2");
        command.Parameters.Add(new NpgsqlParameter<string?> { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, TypedValue = afterId });
        command.Parameters.AddWithValue(limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var devices = new List<RegisteredDevice>();
        while (await reader.ReadAsync(cancellationToken))
        {
            devices.Add(Read(reader));
        }

        return devices;
    }

    /// <summary>The ids of the active devices in <paramref name="group"/>, in id order.</summary>
    public async Task<IReadOnlyList<string>> ListActiveIdsInGroupAsync(string group, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT device_id FROM devices WHERE device_group = $1 AND status = $2 ORDER BY device_id");
        command.Parameters.AddWithValue(group);
        command.Parameters.AddWithValue(DeviceStatus.Active);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Group names follow the device id rules: 1-64 letters, digits, '_', '-' or '.'.</summary>
    public static bool IsValidGroup(string? group) =>
        group is { Length: > 0 and <= 64 } && group.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>The ids of every active device (the ingest's admission cache loads them in one query).</summary>
    public async Task<IReadOnlyList<string>> ListActiveIdsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand("SELECT device_id FROM devices WHERE status = $1");
        command.Parameters.AddWithValue(DeviceStatus.Active);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    private static RegisteredDevice Read(NpgsqlDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        r.GetFieldValue<DateTimeOffset>(3),
        r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4),
        r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5),
        r.IsDBNull(6) ? null : r.GetString(6));
}
