using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using YoloFleet.Cloud.Abstractions;
using YoloFleet.Cloud.Data.Dashboard;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Rollout.Storage;

namespace YoloFleet.Cloud.Dashboard;

/// <summary>One device's line in the fleet table; see <see cref="FleetFeed.Columns"/> for the order on the wire.</summary>
public sealed record FleetRow(
    string Id, string Group, string Status, bool Online, long? LastSeenMs, string Model, float Fps, bool Throttled, long Backlog,
    long Frames, long Detections, float? InferenceP50Ms, float? CpuPercent, float? TemperatureC);

/// <summary>A rollout's line in the stream (the rollout page reads the full status from /api/rollouts/{id}).</summary>
public sealed record FeedRollout(string Id, string Model, int CandidateVersion, string State, int Stage, DateTimeOffset CreatedAt);

/// <summary>
/// The dashboard's live feed behind GET /api/stream (docs/dashboard.md). While anyone listens, one loop per silo builds
/// the fleet's state once a second (the registry, each device grain's snapshot, each device's newest telemetry, the
/// rollouts) and sends every listener only what changed since the last tick: rows as compact arrays, removed ids, and
/// the rollout list when it changed. A new listener (or one that fell behind) gets the whole snapshot first. Nothing
/// runs while no one listens.
/// </summary>
public sealed partial class FleetFeed(
    DeviceDirectory directory,
    DashboardQueries queries,
    RolloutStore rollouts,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<FleetFeed> logger) : BackgroundService
{
    /// <summary>The order of a row's fields on the wire; the snapshot event repeats it for the client.</summary>
    public static readonly string[] Columns =
        ["id", "group", "status", "online", "lastSeen", "model", "fps", "throttled", "backlog", "frames", "detections", "inferenceP50Ms", "cpu", "tempC"];

    /// <summary>A device is online when it was heard from within this window.</summary>
    public static readonly TimeSpan OnlineWindow = TimeSpan.FromSeconds(30);

    /// <summary>How often the fleet is read and deltas sent.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    /// <summary>Devices read per tick at most (the registry list's bound).</summary>
    public const int MaxDevices = 10_000;

    /// <summary>Events a listener may have waiting; past that it is sent a fresh snapshot instead of more deltas.</summary>
    private const int ListenerQueue = 8;

    private static readonly TimeSpan TelemetryWindow = TimeSpan.FromMinutes(10);
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    private readonly ConcurrentDictionary<long, Listener> _listeners = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private Dictionary<string, FleetRow> _rows = new(StringComparer.Ordinal);
    private List<FeedRollout> _rollouts = [];
    private long _nextListener;

    public int ListenerCount => _listeners.Count;

    /// <summary>Ticks the feed built; a test reads it to know the loop ran.</summary>
    public long Ticks { get; private set; }

    /// <summary>Registers a listener; its first event is the whole snapshot. Dispose the listener to leave.</summary>
    public Listener Subscribe()
    {
        var listener = new Listener(this, Interlocked.Increment(ref _nextListener));
        _listeners[listener.Id] = listener;
        _wake.Writer.TryWrite(true);
        return listener;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick, time);
        var tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = _wake.Reader.WaitToReadAsync(stoppingToken).AsTask();
            try
            {
                var fired = await Task.WhenAny(tick, wake);
                await fired;
                if (fired == tick)
                {
                    tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
                }

                _wake.Reader.TryRead(out _);
                if (_listeners.IsEmpty)
                {
                    // Nobody listens: forget the last state, so the next listener's snapshot is built fresh.
                    _rows = new(StringComparer.Ordinal);
                    _rollouts = [];
                    continue;
                }

                await BuildAndSendAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A database or grain hiccup costs one tick, never the feed.
                LogTickFailed(ex);
            }
        }
    }

    private async Task BuildAndSendAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var rows = await ReadFleetAsync(now, cancellationToken);
        var rolloutList = (await rollouts.ListAsync(20, cancellationToken))
            .Select(r => new FeedRollout(r.Id, r.Model, r.Candidate, r.State, r.StageIndex + 1, r.CreatedAt)).ToList();
        Ticks++;

        var changed = new List<FleetRow>();
        foreach (var (id, row) in rows)
        {
            if (!_rows.TryGetValue(id, out var old) || old != row)
            {
                changed.Add(row);
            }
        }

        var removed = _rows.Keys.Where(id => !rows.ContainsKey(id)).ToList();
        var rolloutsChanged = !rolloutList.SequenceEqual(_rollouts);
        _rows = rows;
        _rollouts = rolloutList;

        string? snapshot = null;
        var delta = changed.Count > 0 || removed.Count > 0 || rolloutsChanged
            ? Event("delta", now, changed, removed, rolloutsChanged ? rolloutList : null, columns: false)
            : null;
        foreach (var listener in _listeners.Values)
        {
            if (listener.NeedsSnapshot)
            {
                snapshot ??= Event("snapshot", now, [.. rows.Values.OrderBy(r => r.Id, StringComparer.Ordinal)], [], rolloutList, columns: true);
                listener.Send(snapshot, snapshot: true);
            }
            else if (delta is not null)
            {
                listener.Send(delta, snapshot: false);
            }
        }
    }

    private async Task<Dictionary<string, FleetRow>> ReadFleetAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var devices = await directory.ListAsync(MaxDevices, cancellationToken);
        var telemetry = await queries.LatestTelemetryAsync(now - TelemetryWindow, cancellationToken);
        var snapshots = await Task.WhenAll(devices.Select(d => grains.GetGrain<IDeviceGrain>(d.DeviceId).GetSnapshotAsync()));
        var rows = new Dictionary<string, FleetRow>(devices.Count, StringComparer.Ordinal);
        for (var i = 0; i < devices.Count; i++)
        {
            var device = devices[i];
            var snapshot = snapshots[i];
            telemetry.TryGetValue(device.DeviceId, out var latest);
            var lastSeen = Max(Max(snapshot.LastSeenAt, device.LastSeenAt), latest?.ReceivedAt);
            var health = snapshot.Health;
            rows[device.DeviceId] = new FleetRow(
                device.DeviceId,
                device.Group ?? "",
                device.Status,
                lastSeen is { } seen && now - seen <= OnlineWindow,
                lastSeen?.ToUnixTimeMilliseconds(),
                // The grain keeps the model of the newest committed batch; until it has one, the model the device's telemetry names.
                snapshot.ModelVersion is { Length: > 0 } model ? model : latest?.ModelVersion ?? "",
                // Frames/s and backlog from the grain's last telemetry, else (a grain that has not heard one yet) the stored one.
                MathF.Round(health?.FramesPerSecond ?? latest?.FramesPerSecond ?? 0, 1),
                latest?.Throttled ?? false,
                health?.OutboxDepth ?? latest?.OutboxDepth ?? 0,
                snapshot.Frames,
                snapshot.Detections,
                latest?.InferenceP50Ms is { } p50 ? MathF.Round(p50, 1) : null,
                latest?.CpuPercent is { } cpu ? MathF.Round(cpu) : null,
                latest?.TemperatureC is { } celsius ? MathF.Round(celsius, 1) : null);
        }

        return rows;
    }

    private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

    /// <summary>One server-sent event: "event: NAME" and one data line of compact JSON.</summary>
    private static string Event(string name, DateTimeOffset now, IReadOnlyList<FleetRow> rows, IReadOnlyList<string> removed, List<FeedRollout>? rolloutList, bool columns)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + rows.Count * 128);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("at", now.ToUnixTimeMilliseconds());
            if (columns)
            {
                json.WriteStartArray("columns");
                foreach (var column in Columns)
                {
                    json.WriteStringValue(column);
                }

                json.WriteEndArray();
            }

            json.WriteStartArray("rows");
            foreach (var row in rows)
            {
                WriteRow(json, row);
            }

            json.WriteEndArray();
            json.WriteStartArray("removed");
            foreach (var id in removed)
            {
                json.WriteStringValue(id);
            }

            json.WriteEndArray();
            if (rolloutList is not null)
            {
                json.WritePropertyName("rollouts");
                JsonSerializer.Serialize(json, rolloutList, DashboardJson.Options);
            }

            json.WriteEndObject();
        }

        return $"event: {name}\ndata: {Encoding.UTF8.GetString(buffer.WrittenSpan)}\n\n";
    }

    private static void WriteRow(Utf8JsonWriter json, FleetRow row)
    {
        json.WriteStartArray();
        json.WriteStringValue(row.Id);
        json.WriteStringValue(row.Group);
        json.WriteStringValue(row.Status);
        json.WriteBooleanValue(row.Online);
        WriteNullable(json, row.LastSeenMs);
        json.WriteStringValue(row.Model);
        json.WriteNumberValue(row.Fps);
        json.WriteBooleanValue(row.Throttled);
        json.WriteNumberValue(row.Backlog);
        json.WriteNumberValue(row.Frames);
        json.WriteNumberValue(row.Detections);
        WriteNullable(json, row.InferenceP50Ms);
        WriteNullable(json, row.CpuPercent);
        WriteNullable(json, row.TemperatureC);
        json.WriteEndArray();
    }

    private static void WriteNullable(Utf8JsonWriter json, long? value)
    {
        if (value is { } v)
        {
            json.WriteNumberValue(v);
        }
        else
        {
            json.WriteNullValue();
        }
    }

    private static void WriteNullable(Utf8JsonWriter json, float? value)
    {
        if (value is { } v)
        {
            json.WriteNumberValue(v);
        }
        else
        {
            json.WriteNullValue();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The dashboard feed's tick failed; the next tick tries again")]
    private partial void LogTickFailed(Exception ex);

    /// <summary>One open stream: a small queue of events its response writes out.</summary>
    public sealed class Listener(FleetFeed feed, long id) : IDisposable
    {
        private readonly Channel<string> _events = Channel.CreateBounded<string>(
            new BoundedChannelOptions(ListenerQueue) { SingleReader = false, FullMode = BoundedChannelFullMode.DropWrite });

        public long Id { get; } = id;

        /// <summary>True until it was sent a snapshot, and again when it fell behind (a delta could not be queued).</summary>
        public bool NeedsSnapshot { get; private set; } = true;

        public ChannelReader<string> Events => _events.Reader;

        internal void Send(string text, bool snapshot)
        {
            if (snapshot)
            {
                // Whatever still waits is superseded by the snapshot.
                while (_events.Reader.TryRead(out _))
                {
                }
            }

            if (_events.Writer.TryWrite(text))
            {
                NeedsSnapshot = false;
            }
            else
            {
                NeedsSnapshot = true;
            }
        }

        public void Dispose()
        {
            feed._listeners.TryRemove(Id, out _);
            _events.Writer.TryComplete();
        }
    }
}
