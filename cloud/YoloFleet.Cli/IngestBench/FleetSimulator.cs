using System.Diagnostics;
using Google.Protobuf;
using MQTTnet;
using MQTTnet.Protocol;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cli.IngestBench;

/// <summary>
/// Simulated devices, each with its own MQTT 5 connection, publishing one detections message per frame (or one batch per
/// <c>batchFrames</c> frames) at QoS 1 on its own topic and sequence, paced to a fleet-wide rate. A frame's capture
/// timestamp is the moment it was due, which is its publish time without batching, so the silos' capture-to-commit
/// histogram measures publish-to-commit; with batching it also counts the wait for the batch to fill. Each device also
/// subscribes to its <c>commits</c> topic, as an agent does, so the broker really delivers the cloud's confirmations; the
/// simulator counts them (messages, bytes, numbers confirmed). Sequences continue across runs.
/// </summary>
internal sealed class FleetSimulator : IAsyncDisposable
{
    private readonly SimulatedDevice[] _devices;
    private readonly string _host;
    private readonly int _port;

    public FleetSimulator(int devices, string host, int port)
    {
        _host = host;
        _port = port;
        _devices = new SimulatedDevice[devices];
        for (var i = 0; i < devices; i++)
        {
            _devices[i] = new SimulatedDevice(DeviceId(i));
        }
    }

    public static string DeviceId(int index) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"bench-{index:D5}");

    /// <summary>Frames the broker acknowledged, over all devices.</summary>
    public long FramesAcknowledged => _devices.Sum(d => Interlocked.Read(ref d.Acknowledged));

    /// <summary>Publishes the broker did not acknowledge with success (each retried until it did).</summary>
    public long PublishRetries => _devices.Sum(d => Interlocked.Read(ref d.Retries));

    /// <summary>Frames that went out later than their slot by more than one frame interval.</summary>
    public long LateFrames => _devices.Sum(d => Interlocked.Read(ref d.Late));

    /// <summary>What the devices received on their <c>commits</c> topics so far.</summary>
    public DownstreamCount Downstream => new(
        Interlocked.Read(ref _downstreamMessages),
        Interlocked.Read(ref _downstreamPayloadBytes),
        Interlocked.Read(ref _downstreamWireBytes),
        Interlocked.Read(ref _sequencesConfirmed));

    private long _downstreamMessages;
    private long _downstreamPayloadBytes;
    private long _downstreamWireBytes;
    private long _sequencesConfirmed;

    public async Task ConnectAsync(Action<int> onConnected, CancellationToken cancellationToken)
    {
        var connected = 0;
        await Parallel.ForEachAsync(_devices, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (device, token) =>
        {
            device.Client = new MqttClientFactory().CreateMqttClient();
            var options = new MqttClientOptionsBuilder()
                .WithTcpServer(_host, _port)
                .WithClientId("yolofleet-bench-" + device.Id)
                .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                .WithCleanStart(true)

                // Thousands of clients in one process on a busy machine: no keep-alive ping within a run (a starved client
                // missed its ping's answer and was dropped), and a long wait for each acknowledgement. Not zero: MQTTnet
                // 5.2 then drops the connection within seconds ("The operation has timed out").
                .WithKeepAlivePeriod(TimeSpan.FromHours(1))
                .WithTimeout(TimeSpan.FromSeconds(120))
                .Build();
            device.Client.ApplicationMessageReceivedAsync += OnDownstreamAsync;
            var result = await device.Client.ConnectAsync(options, token);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                throw new InvalidOperationException($"The broker refused simulated device {device.Id}: {result.ResultCode} {result.ReasonString}");
            }

            await device.Client.SubscribeAsync(
                new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Topics.Commits(device.Id), MqttQualityOfServiceLevel.AtLeastOnce).Build(), token);

            onConnected(Interlocked.Increment(ref connected));
        });
    }

    /// <summary>
    /// Publishes until <paramref name="until"/>: every device sends <paramref name="framesPerSecondPerDevice"/> frames a
    /// second with <paramref name="detectionsPerFrame"/> boxes each, waiting for each PUBACK before its next frame.
    /// </summary>
    public Task RunAsync(double framesPerSecondPerDevice, int detectionsPerFrame, int batchFrames, DateTime until, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(1 / framesPerSecondPerDevice);
        var start = Stopwatch.GetTimestamp();
        var loops = new Task[_devices.Length];
        for (var i = 0; i < _devices.Length; i++)
        {
            // Spread the devices' first frames over one interval, as real cameras are not in phase.
            var offset = interval * ((double)i / _devices.Length);
            loops[i] = PublishLoopAsync(_devices[i], start, offset, interval, detectionsPerFrame, batchFrames, until, cancellationToken);
        }

        return Task.WhenAll(loops);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var device in _devices)
        {
            if (device.Client is { } client)
            {
                try
                {
                    await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The broker may already be gone.
                }

                client.Dispose();
            }
        }
    }

    /// <summary>
    /// The bytes one QoS 1 MQTT 5 PUBLISH takes on the wire with this topic, content type and payload, plus the device's
    /// PUBACK (4 bytes); TCP/IP headers not counted.
    /// </summary>
    public static int WireBytes(int topicBytes, int contentTypeBytes, int payloadBytes)
    {
        var properties = contentTypeBytes > 0 ? 1 + 2 + contentTypeBytes : 0;
        var remaining = 2 + topicBytes + 2 + VarIntBytes(properties) + properties + payloadBytes;
        return 1 + VarIntBytes(remaining) + remaining + 4;
    }

    private static int VarIntBytes(int value) => value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    private Task OnDownstreamAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        var payload = (int)message.Payload.Length;
        Interlocked.Increment(ref _downstreamMessages);
        Interlocked.Add(ref _downstreamPayloadBytes, payload);
        Interlocked.Add(ref _downstreamWireBytes, WireBytes(message.Topic.Length, message.ContentType?.Length ?? 0, payload));
        try
        {
            var confirmed = CommitsConfirmed.Parser.ParseFrom(message.Payload);
            ulong numbers = 0;
            foreach (var range in confirmed.Committed)
            {
                numbers += range.Last - range.First + 1;
            }

            Interlocked.Add(ref _sequencesConfirmed, (long)numbers);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            // Counted as received; a bad confirmation confirms nothing.
        }

        return Task.CompletedTask;
    }

    private static async Task PublishLoopAsync(
        SimulatedDevice device,
        long start,
        TimeSpan offset,
        TimeSpan interval,
        int detectionsPerFrame,
        int batchFrames,
        DateTime until,
        CancellationToken cancellationToken)
    {
        var random = new Random(device.Id.GetHashCode(StringComparison.Ordinal));
        var topic = batchFrames > 1 ? Topics.DetectionsBatch(device.Id) : Topics.Detections(device.Id);
        var batch = new DetectionsBatch();
        for (long frame = 0; DateTime.UtcNow < until; frame++)
        {
            var due = offset + (interval * frame);
            if (DateTime.UtcNow + (due - Stopwatch.GetElapsedTime(start)) >= until)
            {
                // A slow device's next frame would fall after the run: stop now rather than sleep past the end.
                break;
            }

            var wait = due - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }
            else if (-wait > interval)
            {
                Interlocked.Increment(ref device.Late);
            }

            batch.Frames.Add(Frame(device.Id, (ulong)Interlocked.Increment(ref device.LastSequence), detectionsPerFrame, random));
            if (batch.Frames.Count < batchFrames)
            {
                continue;
            }

            var payload = batchFrames > 1 ? batch.ToByteArray() : batch.Frames[0].ToByteArray();
            while (true)
            {
                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(topic)
                    .WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .WithContentType(SchemaVersions.ContentType)
                    .Build();
                var result = await device.Client!.PublishAsync(message, cancellationToken);
                if (result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                {
                    break;
                }

                Interlocked.Increment(ref device.Retries);
                await Task.Delay(100, cancellationToken);
            }

            Interlocked.Add(ref device.Acknowledged, batch.Frames.Count);
            batch.Frames.Clear();
        }
    }

    private static DetectionsPublished Frame(string deviceId, ulong sequence, int detections, Random random)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var message = new DetectionsPublished
        {
            Envelope = new Envelope { SchemaVersion = SchemaVersions.Current, DeviceId = deviceId, Sequence = sequence, SentAtUnixMs = now },
            CapturedAtUnixMs = now,
            ModelVersion = "bench-int8-1",
            FrameWidth = 1280,
            FrameHeight = 720,
            InferenceMs = 40f,
            FrameRef = "bench",
        };
        for (var i = 0; i < detections; i++)
        {
            var x = random.NextSingle() * 1200;
            var y = random.NextSingle() * 640;
            message.Detections.Add(new Detection
            {
                ClassId = (uint)random.Next(80),
                Score = 0.25f + (random.NextSingle() * 0.75f),
                X1 = x,
                Y1 = y,
                X2 = x + 10 + (random.NextSingle() * 70),
                Y2 = y + 10 + (random.NextSingle() * 70),
            });
        }

        return message;
    }

    private sealed class SimulatedDevice(string id)
    {
        public string Id { get; } = id;

        public IMqttClient? Client { get; set; }

        public long Acknowledged;
        public long Retries;
        public long Late;

        /// <summary>The last sequence used; the next run goes on from it.</summary>
        public long LastSequence;
    }
}

/// <summary>Confirmations the simulated devices received: messages, payload and wire bytes, numbers confirmed as committed.</summary>
internal readonly record struct DownstreamCount(long Messages, long PayloadBytes, long WireBytes, long SequencesConfirmed)
{
    public static DownstreamCount operator -(DownstreamCount a, DownstreamCount b) =>
        new(a.Messages - b.Messages, a.PayloadBytes - b.PayloadBytes, a.WireBytes - b.WireBytes, a.SequencesConfirmed - b.SequencesConfirmed);
}
