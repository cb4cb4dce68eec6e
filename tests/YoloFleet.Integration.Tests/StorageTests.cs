using System.Net.Http.Json;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud;
using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Cloud.Data.Retention;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// Storage beyond detections, against the real PostgreSQL and Redis: the migrated schema, the device registry on the
/// ingest path, telemetry and hard frames stored before their acknowledgement, durable device grain state, retention.
/// </summary>
public sealed class StorageTests : IClassFixture<PostgresDatabase>
{
    private readonly PostgresDatabase _database;

    public StorageTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Migrations_create_every_table_and_a_brin_index_on_detection_time()
    {
        var tables = await _database.QueryAsync(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", r => r.GetString(0));
        foreach (var table in new[]
        {
            "detections", "devices", "frames", "hard_frames", "models", "rollouts", "telemetry", "verifications",
            "model_jobs", "model_assignments", "model_selections", "model_events", "model_benchmarks", "rollout_events",
        })
        {
            Assert.Contains(table, tables);
        }

        var method = await _database.QueryAsync(
            """
            SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
            WHERE c.relname = 'ix_detections_captured_at_brin'
            """,
            r => r.GetString(0));
        Assert.Equal(["brin"], method);

        var columns = await _database.QueryAsync(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'devices' ORDER BY column_name", r => r.GetString(0));
        Assert.Equal(["device_group", "device_id", "display_name", "first_seen_at", "last_seen_at", "registered_at", "status"], columns);
    }

    [Fact]
    public async Task Unknown_devices_are_counted_and_dropped_until_registered_and_the_silo_keeps_serving()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString, CancellationToken.None, extraSettings: [new("Cloud:Api:AllowAnonymous", "true")]);
        var known = "reg-known-" + Guid.NewGuid().ToString("N")[..6];
        var ghost = "reg-ghost-" + Guid.NewGuid().ToString("N")[..6];
        var disabled = "reg-off-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(known, CancellationToken.None);
        await fleet.CloudServices.GetRequiredService<DeviceDirectory>().RegisterAsync(disabled, "retired", YoloFleet.Cloud.Data.Entities.DeviceStatus.Disabled);
        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        await client.PublishAsync(Topics.Detections(disabled), Frame(disabled, 1).ToByteArray());
        await client.PublishAsync(Topics.Detections(known), Frame(known, 1).ToByteArray());
        await client.PublishAsync(Topics.Detections(ghost), Frame(ghost, 1).ToByteArray());
        await client.PublishAsync(Topics.Telemetry(ghost), Telemetry(ghost, 2).ToByteArray());
        await client.PublishAsync(Topics.Detections(known), Frame(known, 2).ToByteArray());

        Assert.Equal(2, await fleet.WaitForCommittedAsync(2, TimeSpan.FromSeconds(30), CancellationToken.None));
        var rejected = await Poll.UntilAsync(
            () => Task.FromResult(fleet.Counters.RejectedCount(RejectReason.UnknownDevice)), n => n >= 3, TimeSpan.FromSeconds(10));
        Assert.Equal(3, rejected);
        Assert.Empty(await _database.QueryAsync($"SELECT 1 FROM frames WHERE device_id = '{disabled}'", r => r.GetInt32(0)));
        Assert.Empty(await _database.QueryAsync($"SELECT 1 FROM devices WHERE device_id = '{ghost}'", r => r.GetInt32(0)));

        // An operator registers the device through the API; its next message is stored (its cached "unknown" expires).
        using var http = new HttpClient { BaseAddress = new Uri(fleet.HttpAddress) };
        var response = await http.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest(ghost, "Gate camera", null));
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var invalid = await http.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest("no spaces/allowed", null, null));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, invalid.StatusCode);

        await client.PublishAsync(Topics.Detections(ghost), Frame(ghost, 3).ToByteArray());
        Assert.Equal(3, await fleet.WaitForCommittedAsync(3, TimeSpan.FromSeconds(30), CancellationToken.None));
        var stored = await _database.QueryAsync(
            $"SELECT device_id, sequence FROM frames WHERE device_id IN ('{known}', '{ghost}') ORDER BY device_id, sequence",
            r => (r.GetString(0), r.GetInt64(1)));
        Assert.Equal([(ghost, 3L), (known, 1L), (known, 2L)], stored);

        var listed = await http.GetFromJsonAsync<Page<RegisteredDevice>>("/api/devices?limit=1000");
        var row = Assert.Single(listed!.Items, d => d.DeviceId == ghost);
        Assert.Equal("Gate camera", row.DisplayName);
        Assert.NotNull(row.LastSeenAt);
    }

    [Fact]
    public async Task Devices_registered_before_the_silo_starts_are_admitted_from_memory_and_disabled_ones_are_not()
    {
        var active = "pre-on-" + Guid.NewGuid().ToString("N")[..6];
        var disabled = "pre-off-" + Guid.NewGuid().ToString("N")[..6];
        await using (var dataSource = NpgsqlDataSource.Create(_database.ConnectionString))
        {
            var directory = new DeviceDirectory(dataSource);
            await directory.RegisterAsync(active, "");
            await directory.RegisterAsync(disabled, "", YoloFleet.Cloud.Data.Entities.DeviceStatus.Disabled);
        }

        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var admission = fleet.CloudServices.GetRequiredService<DeviceAdmission>();

        // Loaded in bulk before the silo subscribed: the answer is already there, no grain call, no query.
        var first = admission.IsAdmittedAsync(active);
        Assert.True(first.IsCompletedSuccessfully, "the active device was not in the admission cache");
        Assert.True(await first);
        Assert.False(await admission.IsAdmittedAsync(disabled));
        Assert.False(await admission.IsAdmittedAsync("pre-never-" + Guid.NewGuid().ToString("N")[..6]));
    }

    [Fact]
    public async Task Telemetry_and_hard_frames_are_stored_and_the_grain_keeps_the_health()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var device = "upstream-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        var jpeg = await File.ReadAllBytesAsync(Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order().First());
        var hard = new HardFrameUploaded
        {
            Envelope = Envelope(device, 2),
            DetectionsSequence = 1,
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "test@000000000000",
            Jpeg = ByteString.CopyFrom(jpeg),
            Reason = "uncertain",
        };
        hard.Detections.Add(new WireDetection { ClassId = 0, Score = 0.4f, X1 = 1, Y1 = 2, X2 = 30, Y2 = 40 });
        await client.PublishAsync(Topics.HardFrames(device), hard.ToByteArray());
        await client.PublishAsync(Topics.Telemetry(device), Telemetry(device, 3).ToByteArray());
        await client.PublishAsync(Topics.Telemetry(device), Telemetry(device, 3).ToByteArray()); // a redelivery

        var telemetry = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT sequence, frames_per_second, temperature_c, stages->0->>'stage' FROM telemetry WHERE device_id = '{device}'",
                r => (r.GetInt64(0), r.GetFloat(1), r.IsDBNull(2) ? (float?)null : r.GetFloat(2), r.GetString(3))),
            rows => rows.Count >= 1,
            TimeSpan.FromSeconds(15));
        Assert.Equal([(3L, 4.5f, (float?)51.5f, "infer")], telemetry);

        var hardFrames = await Poll.UntilAsync(
            () => _database.QueryAsync(
                $"SELECT sequence, detections_sequence, reason, length(jpeg), jsonb_array_length(edge_detections) FROM hard_frames WHERE device_id = '{device}'",
                r => (r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4))),
            rows => rows.Count >= 1,
            TimeSpan.FromSeconds(15));
        Assert.Equal([(2L, 1L, "uncertain", jpeg.Length, 1)], hardFrames);

        var snapshot = await Poll.UntilAsync(() => fleet.GetDeviceAsync(device), s => s.Health is not null && s.Duplicates >= 1, TimeSpan.FromSeconds(10));
        Assert.NotNull(snapshot.Health);
        Assert.Equal(4.5f, snapshot.Health.FramesPerSecond);
        Assert.Equal(3, snapshot.HighestSequence);
        Assert.Equal(1, snapshot.Duplicates);
    }

    [Fact]
    public async Task A_device_grain_takes_its_model_from_the_newest_frames_even_when_telemetry_arrived_after_them()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var device = "model-" + Guid.NewGuid().ToString("N")[..6];
        var grain = fleet.CloudServices.GetRequiredService<Orleans.IGrainFactory>().GetGrain<YoloFleet.Cloud.Abstractions.IDeviceGrain>(device);
        var framesAt = DateTimeOffset.UtcNow;

        // Frames are committed (and the grain told) after the telemetry that followed them was recorded.
        await grain.RecordTelemetryAsync(2, new YoloFleet.Cloud.Abstractions.DeviceHealth(framesAt.AddSeconds(1), 9, 40, 100, null, 0, 0, 0, ""));
        await grain.RecordCommittedAsync(new YoloFleet.Cloud.Abstractions.CommittedFrames([1], 0, 3, framesAt, "m@1"));
        Assert.Equal("m@1", (await grain.GetSnapshotAsync()).ModelVersion);

        // Older frames committed late do not overwrite what newer frames said.
        await grain.RecordCommittedAsync(new YoloFleet.Cloud.Abstractions.CommittedFrames([4], 0, 1, framesAt.AddSeconds(5), "m@2"));
        await grain.RecordCommittedAsync(new YoloFleet.Cloud.Abstractions.CommittedFrames([3], 0, 1, framesAt.AddSeconds(3), "m@1"));
        var snapshot = await grain.GetSnapshotAsync();
        Assert.Equal("m@2", snapshot.ModelVersion);
        Assert.Equal(framesAt.AddSeconds(5), snapshot.LastSeenAt);
    }

    [Fact]
    public async Task Device_grain_state_survives_the_silo_in_redis_grain_storage()
    {
        var redis = await TestServices.RequireRedisAsync();
        var clusterId = "durable-" + Guid.NewGuid().ToString("N")[..8];
        var device = "durable-" + Guid.NewGuid().ToString("N")[..6];
        await using (var first = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, redis: redis, clusterId: clusterId))
        {
            await first.RegisterDeviceAsync(device, CancellationToken.None);
            await using var client = new MqttTestClient(first.BrokerHost, first.BrokerPort);
            await client.ConnectAsync();
            foreach (var sequence in new ulong[] { 1, 2, 3, 5 })
            {
                await client.PublishAsync(Topics.Detections(device), Frame(device, sequence).ToByteArray());
            }

            Assert.Equal(4, await first.WaitForCommittedAsync(4, TimeSpan.FromSeconds(30), CancellationToken.None));
            var before = await Poll.UntilAsync(() => first.GetDeviceAsync(device), s => s.Frames == 4, TimeSpan.FromSeconds(10));
            Assert.Equal((4L, 5L, 1L), (before.Frames, before.HighestSequence, before.MissingSequences));
        }

        // A new silo (new process state, same cluster): the grain activates from Redis, not from zero.
        await using var second = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, redis: redis, clusterId: clusterId);
        var after = await second.GetDeviceAsync(device);
        Assert.Equal((4L, 5L, 1L, 4L), (after.Frames, after.HighestSequence, after.MissingSequences, after.Detections));
        Assert.Equal("test@000000000000", after.ModelVersion);
    }

    [Fact]
    public async Task Retention_deletes_only_rows_past_each_tables_limit_in_bounded_batches()
    {
        var device = "retention-" + Guid.NewGuid().ToString("N")[..6];
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
        await new DeviceDirectory(dataSource).RegisterAsync(device, "");
        await using (var seed = dataSource.CreateCommand($"""
            INSERT INTO frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count)
            SELECT '{device}', s, now(), now() - make_interval(days => CASE WHEN s <= 10 THEN 40 ELSE 1 END), 'm', 640, 480, 1, 'f', 2
            FROM generate_series(1, 15) s;
            INSERT INTO detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2)
            SELECT f.device_id, f.sequence, i, f.captured_at, 0, 0.5, 0, 0, 1, 1 FROM frames f, generate_series(0, 1) i WHERE f.device_id = '{device}';
            INSERT INTO telemetry (device_id, sequence, sent_at, received_at, frames_per_second, cpu_percent, rss_mb, outbox_depth, outbox_evicted,
                                   frames_dropped, source_failures, source_error, model_version, stages)
            SELECT '{device}', s, now(), now() - make_interval(days => CASE WHEN s <= 106 THEN 31 ELSE 0 END), 1, 1, 1, 0, 0, 0, 0, '', 'm', '[]'
            FROM generate_series(100, 111) s;
            """))
        {
            await seed.ExecuteNonQueryAsync();
        }

        var sweeper = new RetentionSweeper(dataSource);

        // One batch deletes at most its size; a frame's boxes go with it.
        Assert.Equal(3, await sweeper.DeleteBatchAsync(RetainedTable.Frames, DateTimeOffset.UtcNow.AddDays(-30), 3));
        Assert.Equal([24L], await Count($"SELECT count(*) FROM detections WHERE device_id = '{device}'"));

        // Telemetry kept forever (0 days) here; frames kept 30 days; batches of 4.
        var options = new CloudOptions { Retention = new RetentionOptions { BatchSize = 4, TelemetryDays = 0, FramesDays = 30 } };
        var service = new RetentionService(options, sweeper, TimeProvider.System, NullLogger<RetentionService>.Instance);
        var deleted = await service.SweepOnceAsync(CancellationToken.None);

        Assert.Equal(7, deleted[RetainedTable.Frames]);   // 10 old frames, 3 already gone
        Assert.False(deleted.ContainsKey(RetainedTable.Telemetry));
        Assert.Equal([5L], await Count($"SELECT count(*) FROM frames WHERE device_id = '{device}'"));
        Assert.Equal([10L], await Count($"SELECT count(*) FROM detections WHERE device_id = '{device}'"));
        Assert.Equal([0L], await Count($"SELECT count(*) FROM frames WHERE device_id = '{device}' AND received_at < now() - interval '30 days'"));
        Assert.Equal([12L], await Count($"SELECT count(*) FROM telemetry WHERE device_id = '{device}'"));

        // Now with telemetry at 30 days: the 7 old reports go, in two batches of at most 4.
        options.Retention.TelemetryDays = 30;
        Assert.Equal(7, (await service.SweepOnceAsync(CancellationToken.None))[RetainedTable.Telemetry]);
        Assert.Equal([5L], await Count($"SELECT count(*) FROM telemetry WHERE device_id = '{device}'"));
    }

    private Task<List<long>> Count(string sql) => _database.QueryAsync(sql, r => r.GetInt64(0));

    private static Envelope Envelope(string device, ulong sequence) =>
        new() { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = 1_700_000_000_000 };

    private static DetectionsPublished Frame(string device, ulong sequence)
    {
        var message = new DetectionsPublished
        {
            Envelope = Envelope(device, sequence),
            CapturedAtUnixMs = 1_700_000_000_000,
            ModelVersion = "test@000000000000",
            FrameWidth = 640,
            FrameHeight = 480,
            InferenceMs = 12.5f,
            FrameRef = "frame.jpg",
        };
        message.Detections.Add(new WireDetection { ClassId = 0, Score = 0.9f, X1 = 10, Y1 = 20, X2 = 110, Y2 = 220 });
        return message;
    }

    private static TelemetryReported Telemetry(string device, ulong sequence)
    {
        var message = new TelemetryReported
        {
            Envelope = Envelope(device, sequence),
            FramesPerSecond = 4.5f,
            CpuPercent = 61,
            RssMb = 180,
            TemperatureC = 51.5f,
            OutboxDepth = 3,
            ModelVersion = "test@000000000000",
        };
        message.Stages.Add(new StageLatency { Stage = "infer", P50Ms = 40, P95Ms = 55 });
        return message;
    }
}
