using CsCheck;
using Google.Protobuf;
using YoloFleet.Cli;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Integration.Tests.Infrastructure;
using YoloFleet.Testing;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// Property-based fuzzing of the cloud's MQTT handlers through the real broker and a real silo: generated payloads on
/// every upstream topic of a registered device. Each is received and answered (stored or counted as rejected), the
/// subscriber survives all of them, frames committed before are still there, and a valid frame after is stored.
/// </summary>
[Trait("Category", "Security")]
public sealed class MqttFuzzTests : IClassFixture<PostgresDatabase>
{
    private const int Inputs = 1200;
    private readonly PostgresDatabase _database;

    public MqttFuzzTests(PostgresDatabase database) => _database = database;

    [Fact]
    public async Task Generated_payloads_on_every_upstream_topic_are_answered_and_lose_nothing_accepted()
    {
        await using var fleet = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None);
        var device = "fuzz-" + Guid.NewGuid().ToString("N")[..6];
        await fleet.RegisterDeviceAsync(device, CancellationToken.None);
        await using var client = new MqttTestClient(fleet.BrokerHost, fleet.BrokerPort);
        await client.ConnectAsync();

        await client.PublishAsync(Topics.Detections(device), Frame(device, 1).ToByteArray());
        await client.PublishAsync(Topics.Detections(device), Frame(device, 2).ToByteArray());
        Assert.Equal(2, await fleet.WaitForCommittedAsync(2, TimeSpan.FromSeconds(30), CancellationToken.None));
        var receivedBefore = fleet.Counters.Snapshot().ReceivedByKind.Values.Sum();

        // Damaged frames (high sequence numbers, so an accepted one cannot pass for 1 or 2) and noise, on every topic.
        var seed = Frame(device, 1_000_000).ToByteArray();
        await Gen.Select(Gen.Int[0, Topics.UpstreamKinds.Count - 1], FuzzInputs.NoiseOrDamaged(seed)).SampleAsync(
            async (kind, payload) => await client.PublishAsync(Topics.DeviceTopic(device, Topics.UpstreamKinds[kind]), payload),
            iter: Inputs,
            threads: 1);

        var received = await Poll.UntilAsync(
            () => Task.FromResult(fleet.Counters.Snapshot().ReceivedByKind.Values.Sum() - receivedBefore),
            n => n >= Inputs,
            TimeSpan.FromSeconds(120));
        Assert.Equal(Inputs, received);
        Assert.True(fleet.Counters.Snapshot().RejectedByReason.Values.Sum() > Inputs / 2, "most generated payloads should be rejected and counted");

        await client.PublishAsync(Topics.Detections(device), Frame(device, 3).ToByteArray());
        var stored = await Poll.UntilAsync(
            () => _database.QueryAsync($"SELECT sequence FROM frames WHERE device_id = '{device}' AND sequence <= 3 ORDER BY sequence", r => r.GetInt64(0)),
            s => s.Count == 3,
            TimeSpan.FromSeconds(60));
        Assert.Equal([1L, 2L, 3L], stored);
    }

    private static DetectionsPublished Frame(string device, ulong sequence) => new()
    {
        Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = 1_700_000_000_000 },
        CapturedAtUnixMs = 1_700_000_000_000,
        ModelVersion = "fuzz@000000000000",
        FrameWidth = 640,
        FrameHeight = 480,
        InferenceMs = 12.5f,
        FrameRef = "frame.jpg",
        Detections = { new Detection { ClassId = 0, Score = 0.9f, X1 = 10, Y1 = 20, X2 = 110, Y2 = 220 } },
    };
}
