using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// Every latency sample keeps what it was measured under: a frame's throttle state and model hash go through the
/// broker, the silo and the COPY writer into PostgreSQL, so later latency comparisons keep like with like.
/// </summary>
[Collection(ModelDistributionCollection.Name)]
[Trait("Category", "ModelDistribution")]
public sealed class LatencyTaggingTests(ModelDistributionFleet fixture)
{
    [Fact]
    public async Task Frames_keep_the_throttle_state_and_the_model_hash_they_ran_with()
    {
        var device = "md-lat-" + Guid.NewGuid().ToString("N")[..6];
        await fixture.RegisterAsync(device);
        await using var client = new MqttTestClient(fixture.Fleet.BrokerHost, fixture.Fleet.BrokerPort);
        await client.ConnectAsync();

        for (ulong sequence = 1; sequence <= 2; sequence++)
        {
            var frame = new DetectionsPublished
            {
                Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = 1_764_000_000_000 },
                CapturedAtUnixMs = 1_764_000_000_000,
                ModelVersion = "yolox_nano_416@1",
                FrameWidth = 640,
                FrameHeight = 480,
                InferenceMs = sequence == 1 ? 21.5f : 48f,
                Throttled = sequence == 2,
                ModelSha256 = sequence == 1 ? fixture.Int8Sha256 : fixture.Int8Sha256.ToUpperInvariant(),
            };
            await client.PublishAsync(Topics.Detections(device), frame.ToByteArray());
        }

        var rows = await Poll.UntilAsync(
            () => fixture.QueryAsync($"SELECT sequence, throttled, model_sha256, inference_ms FROM frames WHERE device_id = '{device}' ORDER BY sequence",
                r => (r.GetInt64(0), r.GetBoolean(1), r.GetString(2), r.GetFloat(3))),
            r => r.Count == 2,
            TimeSpan.FromSeconds(30));

        Assert.Equal([(1L, false, fixture.Int8Sha256, 21.5f), (2L, true, fixture.Int8Sha256, 48f)], rows);
    }
}
