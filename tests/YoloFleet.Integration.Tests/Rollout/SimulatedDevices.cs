using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.Integration.Tests.Rollout;

/// <summary>
/// Devices played by one MQTT client on the real broker, round by round: each takes its newest model assignment
/// (acknowledging downloading, verified and activated, or refusing a hash it is told is tampered), then sends one hard
/// frame (a real coco128 JPEG with boxes traced from the FP32 model, which the cloud's verifier re-checks) and one
/// telemetry report naming the model it runs. A model marked bad gets half of its boxes dropped, so it agrees with FP32
/// less; every other model sends the traced boxes as they are. (Noise in a good model's boxes would make a test of a
/// dozen frames per stage fail now and then, as α allows; the test's error rates are measured in the unit tests.)
/// </summary>
public sealed class SimulatedDevices : IAsyncDisposable
{
    private readonly MqttTestClient _client;
    private readonly IReadOnlyList<string> _devices;
    private readonly IReadOnlyList<(byte[] Jpeg, YoloFleet.Inference.Detection[] Boxes)> _frames;
    private readonly Dictionary<string, ulong> _sequence = [];
    private readonly Dictionary<string, string> _handled = [];
    private int _read;

    private SimulatedDevices(MqttTestClient client, IReadOnlyList<string> devices, IReadOnlyList<(byte[], YoloFleet.Inference.Detection[])> frames, string factorySha256)
    {
        _client = client;
        _devices = devices;
        _frames = frames;
        foreach (var device in devices)
        {
            Active[device] = factorySha256;
            _sequence[device] = 0;
        }
    }

    /// <summary>The hash each device runs now.</summary>
    public Dictionary<string, string> Active { get; } = new(StringComparer.Ordinal);

    /// <summary>A model whose boxes agree with FP32 less.</summary>
    public string? BadSha256 { get; set; }

    /// <summary>A model whose artifact every device refuses as tampered ("hash-mismatch").</summary>
    public string? TamperedSha256 { get; set; }

    /// <summary>
    /// A device's FP32 and INT8 p50 (ms), for assignments that leave the variant to its benchmarks (no variant selected):
    /// the device reports them ("benchmarked") and waits for the cloud's choice. Null: such assignments are left alone.
    /// </summary>
    public Func<string, (float Fp32P50Ms, float Int8P50Ms)>? Benchmarks { get; set; }

    public int HardFramesSent { get; private set; }

    public static async Task<SimulatedDevices> StartAsync((string Host, int Port) broker, IReadOnlyList<string> devices, string factorySha256)
    {
        var frames = TracedFrames.Value;
        var client = new MqttTestClient(broker.Host, broker.Port);
        await client.ConnectAsync();
        foreach (var device in devices)
        {
            await client.SubscribeAsync(Topics.ModelAssignment(device));
        }

        return new SimulatedDevices(client, devices, frames, factorySha256);
    }

    /// <summary>Takes new assignments, then sends one hard frame and one telemetry report per device.</summary>
    public async Task RoundAsync()
    {
        await TakeAssignmentsAsync();
        foreach (var device in _devices)
        {
            var sequence = Next(device);
            var round = HardFramesSent / _devices.Count;
            var (jpeg, boxes) = _frames[round % _frames.Count];
            var sha = Active[device];
            var message = new HardFrameUploaded
            {
                Envelope = Envelope(device, sequence),
                DetectionsSequence = sequence,
                CapturedAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                ModelVersion = "simulated",
                Jpeg = ByteString.CopyFrom(jpeg),
                Reason = "sampled",
                ModelSha256 = sha,
            };
            for (var i = 0; i < boxes.Length; i++)
            {
                var dropped = sha == BadSha256 && i % 2 == 1;
                if (!dropped)
                {
                    var d = boxes[i];
                    message.Detections.Add(new WireDetection { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 });
                }
            }

            await PublishAsync(Topics.HardFrames(device), message.ToByteArray());
            HardFramesSent++;

            var telemetry = new TelemetryReported { Envelope = Envelope(device, Next(device)), ModelVersion = "simulated", ActiveModelSha256 = sha, FramesPerSecond = 5 };
            telemetry.Stages.Add(new StageLatency { Stage = "inference", P50Ms = 25, P95Ms = 30 });
            await PublishAsync(Topics.Telemetry(device), telemetry.ToByteArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var device in _devices)
        {
            // Leave no retained assignment behind on the shared broker.
            await _client.PublishRetainedAsync(Topics.ModelAssignment(device), []);
        }

        await _client.DisposeAsync();
    }

    /// <summary>Takes the newest assignment of each device that has a new one: acknowledges it and switches (or refuses it).</summary>
    public async Task TakeAssignmentsAsync()
    {
        var received = _client.Received.ToArray();
        var newest = new Dictionary<string, ModelAssigned>(StringComparer.Ordinal);
        for (; _read < received.Length; _read++)
        {
            var (topic, payload) = received[_read];
            if (payload.Length > 0 && Topics.TryParse(topic, out var device, out _))
            {
                newest[device] = ModelAssigned.Parser.ParseFrom(new ReadOnlySequence<byte>(payload));
            }
        }

        foreach (var (device, assignment) in newest)
        {
            var sha = assignment.SelectedSha256;
            if ((sha.Length == 0 && Benchmarks is null) || _handled.GetValueOrDefault(device) == assignment.AssignmentId + "/" + sha)
            {
                continue;
            }

            _handled[device] = assignment.AssignmentId + "/" + sha;
            if (sha.Length == 0)
            {
                await BenchmarkAsync(device, assignment);
                continue;
            }

            await AckAsync(device, assignment.AssignmentId, ModelAssignmentStages.Downloading, true, sha, "", "");
            if (sha == TamperedSha256)
            {
                await AckAsync(device, assignment.AssignmentId, ModelAssignmentStages.Rejected, false, sha, "hash-mismatch",
                    "the downloaded file's SHA-256 is not the signed manifest's");
                continue;
            }

            await AckAsync(device, assignment.AssignmentId, ModelAssignmentStages.Verified, true, sha, "", "");
            Active[device] = sha;
            await AckAsync(device, assignment.AssignmentId, ModelAssignmentStages.Activated, true, sha, "", "");
        }
    }

    /// <summary>Downloads and verifies every variant (as acknowledged), then reports this device's figures for each.</summary>
    private async Task BenchmarkAsync(string device, ModelAssigned assignment)
    {
        await AckAsync(device, assignment.AssignmentId, ModelAssignmentStages.Downloading, true, "", "", "");
        var (fp32, int8) = Benchmarks!(device);
        var ack = new ModelAssignmentAcknowledged
        {
            Envelope = Envelope(device, Next(device)),
            AssignmentId = assignment.AssignmentId,
            Stage = ModelAssignmentStages.Benchmarked,
            Accepted = true,
            ActiveSha256 = Active[device],
            CpuFeatures = "simulated",
        };
        foreach (var variant in assignment.Variants)
        {
            var manifest = ModelManifest.Parse(variant.ManifestJson.ToByteArray(), "assigned variant");
            var precision = manifest.Precision ?? "fp32";
            var p50 = precision == "int8" ? int8 : fp32;
            ack.Benchmarks.Add(new VariantBenchmark { Sha256 = manifest.Model.Sha256, Precision = precision, P50Ms = p50, P95Ms = p50 * 1.1f, Runs = 20 });
        }

        await PublishAsync(Topics.Ack(device), ack.ToByteArray());
    }

    private async Task AckAsync(string device, string assignmentId, string stage, bool accepted, string sha, string reasonCode, string error)
    {
        var ack = new ModelAssignmentAcknowledged
        {
            Envelope = Envelope(device, Next(device)),
            AssignmentId = assignmentId,
            Stage = stage,
            Accepted = accepted,
            Sha256 = sha,
            ReasonCode = reasonCode,
            Error = error,
            ActiveSha256 = Active[device],
        };
        await PublishAsync(Topics.Ack(device), ack.ToByteArray());
    }

    private async Task PublishAsync(string topic, byte[] payload)
    {
        var result = await _client.PublishAsync(topic, payload);
        Assert.True(result.IsSuccess, $"the broker refused a message on {topic}: {result.ReasonCode}");
    }

    private ulong Next(string device) => ++_sequence[device];

    private static Envelope Envelope(string device, ulong sequence) =>
        new() { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };

    /// <summary>Eight coco128 images with at least two boxes each, and the FP32 model's own boxes on them (traced once per test run).</summary>
    private static readonly Lazy<IReadOnlyList<(byte[] Jpeg, YoloFleet.Inference.Detection[] Boxes)>> TracedFrames = new(() =>
    {
        using var detector = Detector.Open(SharedData.YoloxNano416);
        var frames = new List<(byte[], YoloFleet.Inference.Detection[])>();
        foreach (var path in Directory.GetFiles(SharedData.Coco128Images, "*.jpg").Order(StringComparer.Ordinal))
        {
            using var image = ImageFile.Read(path);
            var boxes = detector.Detect(image);
            if (boxes.Length >= 2 && boxes.Length <= 12)
            {
                frames.Add((File.ReadAllBytes(path), boxes));
            }

            if (frames.Count == 8)
            {
                break;
            }
        }

        return frames;
    });
}
