using System.Globalization;
using Npgsql;
using OpenCvSharp;
using YoloFleet.Cli;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Data.Scene;
using YoloFleet.EdgeAgent.Scene;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// Object events end to end (docs/scene.md): the real agent (its own process, MotionGated scene, object events on) on a
/// video of coco128's zebra walking across a static, noisy scene, mosquitto, the silo and PostgreSQL. Each event is stored
/// exactly once, and an agent SIGKILLed in the middle of the walk ends the object at its next start: one start, one end
/// marked recovered, never a second start.
/// </summary>
[Trait("Category", "Scene")]
public sealed class SceneEventsTests : IClassFixture<PostgresDatabase>, IDisposable
{
    private static readonly TimeSpan AgentRun = TimeSpan.FromMinutes(4);
    private readonly PostgresDatabase _database;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "yf-scene-it-" + Guid.NewGuid().ToString("N")[..8]);

    public SceneEventsTests(PostgresDatabase database)
    {
        _database = database;
        Directory.CreateDirectory(_folder);
    }

    [Fact]
    public async Task A_walker_becomes_one_object_whose_events_reach_postgresql_exactly_once()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        try
        {
            var device = "scene-" + Guid.NewGuid().ToString("N")[..6];
            await RegisterAsync(device);
            var video = WalkerVideo.Write(Path.Combine(_folder, "walk.avi"));
            await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, broker.Endpoint);
            var settings = AgentSettings(device, Path.Combine(_folder, device), broker.Endpoint.Port, video);

            // A counting line across the middle (walking up it, the walker goes left to right) and a zone on the right.
            settings["Agent:Scene:Lines:0:Name"] = "middle";
            settings["Agent:Scene:Lines:0:From:0"] = "320";
            settings["Agent:Scene:Lines:0:From:1"] = "480";
            settings["Agent:Scene:Lines:0:To:0"] = "320";
            settings["Agent:Scene:Lines:0:To:1"] = "0";
            settings["Agent:Scene:Zones:0:Name"] = "right";
            foreach (var (value, i) in new[] { 400, 0, 640, 0, 640, 480, 400, 480 }.Select((v, i) => (v, i)))
            {
                settings[$"Agent:Scene:Zones:0:Polygon:{i}"] = value.ToString(CultureInfo.InvariantCulture);
            }

            using var agent = new AgentProcess(settings);
            await agent.WaitForExitAsync(AgentRun);
            Assert.True(agent.ExitCode == 0, $"agent exit code {agent.ExitCode}:{Environment.NewLine}{agent.Tail()}");

            // The agent exits once the cloud confirmed every message committed: the events are all in.
            var events = await EventsAsync(device);
            var start = Assert.Single(events, e => e.Kind == "started");
            var mine = events.Where(e => e.ObjectId == start.ObjectId).ToList();
            Assert.Equal(Enumerable.Range(0, mine.Count), mine.Select(e => e.Revision));
            Assert.Equal("ended", mine[^1].Kind);
            Assert.False(mine[^1].Recovered);
            Assert.Equal(start.Sequence, start.ObjectId);
            Assert.True(start.CropBytes > 0, "the start carries the object's picture");
            Assert.Equal(events.Count, events.Select(e => (e.ObjectId, e.Revision)).Distinct().Count());

            // The analytics behind GET /api/scene: one object of its class in the zone, one crossing left to right.
            await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
            var analytics = new ObjectEventAnalytics(dataSource);
            var (from, to) = (DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1));
            var zone = Assert.Single(await analytics.ZoneHoursAsync(from, to, device));
            Assert.Equal(("right", start.ClassId, 1L), (zone.Zone, zone.ClassId, zone.Objects));
            Assert.True(zone.MeanDwellSeconds > 0, $"dwell {zone.MeanDwellSeconds} s");
            var line = Assert.Single(await analytics.LineCountsAsync(from, to, device));
            Assert.Equal(("middle", "left-to-right", start.ClassId, 1L), (line.Line, line.Direction, line.ClassId, line.Crossings));
            Assert.Empty(await analytics.LineCountsAsync(from, to, "someone-else"));

            // Every frame still has its detections message (Agent:Detection:Publish All), each stored once beside the events.
            var frames = await _database.QueryAsync($"SELECT count(*) FROM frames WHERE device_id = '{device}'", r => r.GetInt64(0));
            Assert.Equal(WalkerVideo.Frames, frames[0]);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_agent_killed_in_the_middle_of_a_track_ends_it_at_the_next_start_without_a_second_start()
    {
        var broker = new PrivateMosquitto();
        await broker.InitializeAsync();
        try
        {
            var device = "scene-" + Guid.NewGuid().ToString("N")[..6];
            await RegisterAsync(device);
            var state = Path.Combine(_folder, device);
            var video = WalkerVideo.Write(Path.Combine(_folder, "walk.avi"));
            await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, broker.Endpoint);
            var settings = AgentSettings(device, state, broker.Endpoint.Port, video);
            long objectId;
            using (var first = new AgentProcess(settings))
            {
                var started = await Poll.UntilAsync(() => EventsAsync(device), e => e.Any(x => x.Kind == "started"), TimeSpan.FromSeconds(120));
                first.Kill();
                objectId = Assert.Single(started, e => e.Kind == "started").ObjectId;
            }

            // Killed mid-walk: the object is still open on disk, and the cloud has no end for it.
            var open = new OpenObjectStore(state).Open;
            Assert.True(open.Count == 1 && (long)open.First().ObjectId == objectId, $"{open.Count} open objects after the kill; the walk lasts 9 s and the kill came at its start");

            // The next start (a few static frames) ends it.
            settings["Agent:Source:MaxFrames"] = "15";
            using (var second = new AgentProcess(settings))
            {
                await second.WaitForExitAsync(AgentRun);
                Assert.True(second.ExitCode == 0, $"agent exit code {second.ExitCode}:{Environment.NewLine}{second.Tail()}");
            }

            var events = await EventsAsync(device);
            Assert.Single(events, e => e.Kind == "started");
            var end = Assert.Single(events, e => e.Kind == "ended");
            Assert.Equal(objectId, end.ObjectId);
            Assert.True(end.Recovered);
            Assert.Equal(events.Where(e => e.ObjectId == objectId).Max(e => e.Revision), end.Revision);
            Assert.Empty(new OpenObjectStore(state).Open);
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private static Dictionary<string, string> AgentSettings(string device, string state, int brokerPort, string video) => new()
    {
        ["Agent:DeviceId"] = device,
        ["Agent:ModelPath"] = SharedData.YoloxNano416,
        ["Agent:StateDirectory"] = state,
        ["Agent:Broker:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
        ["Agent:Source:Video"] = video,
        ["Agent:Source:MaxFps"] = "10",
        ["Agent:Scene:Mode"] = "MotionGated",
        ["Agent:Scene:EventUpdateSeconds"] = "1",
        ["Agent:ObjectEvents:Enabled"] = "true",
        ["Agent:HardFrames:Enabled"] = "false",
        ["Agent:Telemetry:IntervalSeconds"] = "3",
        ["Agent:Delivery:ConfirmTimeout"] = "00:00:04",
        ["Agent:DrainTimeout"] = "00:03:00",
        ["Logging:LogLevel:Default"] = "Warning",
    };

    private async Task RegisterAsync(string device)
    {
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
        await new DeviceDirectory(dataSource).RegisterAsync(device, "scene test");
    }

    private Task<List<StoredEvent>> EventsAsync(string device) => _database.QueryAsync(
        $"""
         SELECT sequence, object_id, kind, revision, recovered, coalesce(length(best_crop_jpeg), 0), class_id
         FROM object_events WHERE device_id = '{device}' ORDER BY sequence
         """,
        r => new StoredEvent(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3), r.GetBoolean(4), r.GetInt32(5), r.GetInt32(6)));

    private sealed record StoredEvent(long Sequence, long ObjectId, string Kind, int Revision, bool Recovered, int CropBytes, int ClassId);

    /// <summary>
    /// A static camera (a paved, textured background, fresh sensor noise per frame) where coco128's zebra (000000000034,
    /// cut at its labelled box, 150 px high) walks from left to right: 30 static frames, 90 walking, 40 static; MJPG AVI.
    /// </summary>
    private static class WalkerVideo
    {
        public const int Frames = 160;

        public static string Write(string path)
        {
            using var background = new Mat(480, 640, MatType.CV_8UC3);
            for (var y = 0; y < 480; y += 16)
            {
                for (var x = 0; x < 640; x += 24)
                {
                    var shade = 100 + ((x / 24) + (y / 16)) % 2 * 24 + x * 30 / 640;
                    background[new Rect(x, y, Math.Min(24, 640 - x), 16)].SetTo(new Scalar(shade - 6, shade, shade + 8));
                }
            }

            using var picture = Cv2.ImRead(Path.Combine(SharedData.Coco128Images, "000000000034.jpg"));
            var box = new Rect(
                (int)((0.346 - 0.689 / 2) * picture.Width), (int)((0.493 - 0.892 / 2) * picture.Height), (int)(0.689 * picture.Width), (int)(0.892 * picture.Height))
                .Intersect(new Rect(0, 0, picture.Width, picture.Height));
            using var cut = new Mat(picture, box);
            using var walker = cut.Resize(new Size(box.Width * 150 / box.Height, 150));
            using var writer = new VideoWriter(path, FourCC.MJPG, 10, new Size(640, 480));
            Assert.True(writer.IsOpened(), $"this OpenCV build cannot write MJPG AVI to {path}");
            using var noise = new Mat(480, 640, MatType.CV_16SC3);
            using var noisy = new Mat();
            for (var i = 0; i < Frames; i++)
            {
                using var frame = background.Clone();
                if (i is >= 30 and < 120)
                {
                    var x = 10 + (i - 30) * 5;
                    var width = Math.Min(walker.Width, 640 - x);
                    walker[new Rect(0, 0, width, walker.Height)].CopyTo(frame[new Rect(x, 260, width, walker.Height)]);
                }

                Cv2.Randn(noise, new Scalar(0, 0, 0), new Scalar(3, 3, 3));
                frame.ConvertTo(noisy, MatType.CV_16SC3);
                Cv2.Add(noisy, noise, noisy);
                noisy.ConvertTo(frame, MatType.CV_8UC3);
                writer.Write(frame);
            }

            return path;
        }
    }
}
