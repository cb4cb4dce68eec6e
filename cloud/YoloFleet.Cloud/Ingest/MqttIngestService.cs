using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Delivery;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Ingest;

/// <summary>
/// The silo's MQTT subscriber. Validates each upstream message, hands detections to the batch writer and acknowledges
/// each QoS 1 message only after its frame has committed (or after it was judged invalid and counted), in the order
/// received. A message that never committed is never acknowledged, so the broker delivers it again.
/// </summary>
public sealed partial class MqttIngestService(
    CloudOptions options,
    FrameIngestQueue queue,
    IngestCounters counters,
    DeviceAdmission admission,
    UpstreamStorage upstream,
    ModelAckStorage modelAcks,
    CommitConfirmations confirmations,
    DeliveryReportStorage deliveries,
    YoloFleet.Cloud.Shadow.ShadowWindowStorage shadows,
    TimeProvider time,
    ILogger<MqttIngestService> logger) : BackgroundService
{
    private const int ReceiveSocketBufferBytes = 4 * 1024 * 1024;

    /// <summary>What a handler returns for a message refused for good: acknowledged at once and confirmed as refused.</summary>
    private static readonly Task Refusal = CompletedTask();

    private readonly string _clientId = options.Mqtt.ClientIdPrefix + "-" + options.Silo.SiloPort;
    private volatile bool _subscribed;
    private string[] _filters = [];

    /// <summary>True once connected and subscribed; tests and health checks wait on it.</summary>
    public bool IsSubscribed => _subscribed;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Admission answers from memory from the first message on, rather than a grain call per device.
        if (await admission.TryRefreshAsync(stoppingToken) is { } active)
        {
            LogAdmissionLoaded(active);
        }

        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            using var drain = new CancellationTokenSource();
            var acks = Channel.CreateUnbounded<(MqttApplicationMessageReceivedEventArgs Message, Task Done)>(
                new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            client.ApplicationMessageReceivedAsync += e => OnMessageAsync(e, acks.Writer, stoppingToken);
            Task? ackLoop = null;
            var failed = false;
            try
            {
                await ConnectAndSubscribeAsync(client, stoppingToken);
                backoff = TimeSpan.FromMilliseconds(200);
                ackLoop = AcknowledgeInOrderAsync(acks.Reader, drain.Token);

                // Watch the connection; MQTTnet's samples warn against reconnecting from DisconnectedAsync.
                while (await client.TryPingAsync(stoppingToken))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                }

                LogConnectionLost(options.Mqtt.Host, options.Mqtt.Port);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                failed = true;
                LogConnectFailed(ex, options.Mqtt.Host, options.Mqtt.Port, backoff.TotalMilliseconds);
            }
            finally
            {
                _subscribed = false;
                if (stoppingToken.IsCancellationRequested && client.IsConnected)
                {
                    await LeaveAsync(client, acks.Writer, ackLoop, drain);
                }

                acks.Writer.TryComplete();
                await drain.CancelAsync();
                if (ackLoop is not null)
                {
                    await ackLoop;
                }
            }

            if (failed && !stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(backoff, time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 10_000));
            }
        }
    }

    /// <summary>
    /// A clean exit from the shared subscription: stop the broker sending, let what was received commit and be
    /// acknowledged, then end the session. A persistent session left behind would keep its place in the share group,
    /// and the broker would queue a share of the fleet's messages for a silo that is not coming back.
    /// </summary>
    private async Task LeaveAsync(
        IMqttClient client, ChannelWriter<(MqttApplicationMessageReceivedEventArgs, Task)> acks, Task? ackLoop, CancellationTokenSource drain)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            var unsubscribe = new MqttClientUnsubscribeOptionsBuilder();
            foreach (var filter in _filters)
            {
                unsubscribe.WithTopicFilter(filter);
            }

            await client.UnsubscribeAsync(unsubscribe.Build(), timeout.Token);

            // Publishes the broker sent before its UNSUBACK may still be in the handler; give them a moment.
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, timeout.Token);
            acks.TryComplete();
            drain.CancelAfter(TimeSpan.FromSeconds(10));
            if (ackLoop is not null)
            {
                await ackLoop;
            }

            await client.DisconnectAsync(
                new MqttClientDisconnectOptionsBuilder()
                    .WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection)
                    .WithSessionExpiryInterval(0)
                    .Build(),
                timeout.Token);
            LogLeft(options.Mqtt.Host, options.Mqtt.Port);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogLeaveFailed(ex);
        }
    }

    private async Task ConnectAndSubscribeAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Mqtt.Host, options.Mqtt.Port)
            .WithClientId(_clientId)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            // A persistent session: messages published while this silo restarts wait for it at the broker.
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600)
            .WithReceiveMaximum((ushort)options.Mqtt.ReceiveMaximum)
            .WithMaximumPacketSize(ProtocolLimits.MaxPacketBytes)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(options.Mqtt.Username))
        {
            builder = builder.WithCredentials(options.Mqtt.Username, options.Mqtt.Password);
        }

        builder = YoloFleet.Cloud.Security.SiloBrokerTls.Apply(builder, options.Mqtt.Tls, options.Mqtt.Host);
        var clientOptions = builder.Build();
        if (clientOptions.ChannelOptions is MqttClientTcpOptions tcp)
        {
            // MQTTnet sizes the socket buffers with this (8 KiB by default), which caps the TCP receive window. With a
            // backlog at the broker the silo then got ~100 messages/s while it sat idle (docs/benchmarks.md).
            tcp.BufferSize = ReceiveSocketBufferBytes;
        }

        var connected = await client.ConnectAsync(clientOptions, cancellationToken);
        if (connected.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"The broker refused the connection: {connected.ResultCode} {connected.ReasonString}");
        }

        // Shared subscriptions spread the fleet over the silos; a broker without them (MQTTnet's) serves one silo.
        var shared = connected.SharedSubscriptionAvailable;
        _filters = [.. Topics.UpstreamKinds.Select(kind => shared ? Topics.SharedAllDevices(kind, options.Mqtt.ShareGroup) : Topics.AllDevices(kind))];
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _filters)
        {
            subscribe.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var result = await client.SubscribeAsync(subscribe.Build(), cancellationToken);
        foreach (var item in result.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new InvalidOperationException($"The broker refused the subscription {item.TopicFilter.Topic}: {item.ResultCode}");
            }
        }

        _subscribed = true;
        LogSubscribed(options.Mqtt.Host, options.Mqtt.Port, shared ? "shared" : "plain (one silo only)", connected.IsSessionPresent);
    }

    private async Task OnMessageAsync(
        MqttApplicationMessageReceivedEventArgs e, ChannelWriter<(MqttApplicationMessageReceivedEventArgs, Task)> acks, CancellationToken cancellationToken)
    {
        e.AutoAcknowledge = false;
        var done = Task.CompletedTask;
        try
        {
            done = await HandleAsync(e.ApplicationMessage, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Never let one message take the subscriber down; it is counted and dropped.
            counters.Rejected(RejectReason.Malformed);
            LogHandlerFailed(ex, e.ApplicationMessage.Topic);
            done = Refusal;
        }

        // The device learns the outcome in its next commit confirmation (docs/protocol.md); a broker's PUBACK is not one.
        confirmations.Track(e.ApplicationMessage.Topic, e.ApplicationMessage.Payload, done, refused: ReferenceEquals(done, Refusal));
        acks.TryWrite((e, done));
    }

    private async ValueTask<Task> HandleAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        if (!Topics.TryParse(message.Topic, out var deviceId, out var kind) || ProtocolLimits.MaxPayloadBytes(kind) == 0)
        {
            return Reject(RejectReason.UnknownTopic, message.Topic, "not a YoloFleet upstream topic");
        }

        counters.Received(kind);
        var payload = message.Payload;
        switch (kind)
        {
            case Topics.DetectionsKind:
                if (!WireDecoder.TryDecodeDetections(deviceId, payload, out var detections, out var rejection))
                {
                    return Reject(rejection!.Reason, message.Topic, rejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                var pending = await queue.EnqueueAsync(ToRow(detections, time.GetUtcNow()), cancellationToken);
                return pending.Committed;

            case Topics.DetectionsBatchKind:
                return await HandleBatchAsync(deviceId, message.Topic, payload, cancellationToken);

            case Topics.HardFramesKind:
                // Stored (JPEG and the edge's boxes), then queued for the FP32 verifier; acknowledged after the commit.
                if (!WireDecoder.TryDecodeHardFrame(deviceId, payload, out var hardFrame, out var hardRejection))
                {
                    return Reject(hardRejection!.Reason, message.Topic, hardRejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                return upstream.StoreHardFrameAsync(ToHardFrameRow(hardFrame, time.GetUtcNow()), cancellationToken);

            case Topics.TelemetryKind:
                if (!WireDecoder.TryDecodeTelemetry(deviceId, payload, out var telemetry, out var telemetryRejection))
                {
                    return Reject(telemetryRejection!.Reason, message.Topic, telemetryRejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                return upstream.StoreTelemetryAsync(ToTelemetryRow(telemetry, time.GetUtcNow()), cancellationToken);

            case Topics.AckKind:
                if (!WireDecoder.TryDecodeAck(deviceId, payload, out var ack, out var ackRejection))
                {
                    return Reject(ackRejection!.Reason, message.Topic, ackRejection.Detail);
                }

                return await admission.IsAdmittedAsync(deviceId, cancellationToken)
                    ? modelAcks.StoreAsync(ack, time.GetUtcNow(), cancellationToken)
                    : RejectUnknown(deviceId, message.Topic);

            case Topics.DeliveryKind:
                // A device's intentional drops: stored once, counted by reason, and closed as accounted in its grain.
                if (!WireDecoder.TryDecodeDelivery(deviceId, payload, out var delivery, out var deliveryRejection))
                {
                    return Reject(deliveryRejection!.Reason, message.Topic, deliveryRejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                return deliveries.StoreAsync(DeliveryReportStorage.ToRow(delivery, time.GetUtcNow()), cancellationToken);

            case Topics.ObjectEventsKind:
                // A tracked object's start, update or end (docs/scene.md): stored once, acknowledged after the commit.
                if (!WireDecoder.TryDecodeObjectEvent(deviceId, payload, out var objectEvent, out var eventRejection))
                {
                    return Reject(eventRejection!.Reason, message.Topic, eventRejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                return upstream.StoreObjectEventAsync(ToObjectEventRow(objectEvent, time.GetUtcNow()), cancellationToken);

            case Topics.ShadowKind:
                // A window of a candidate in shadow: stored once, read by the rollout's shadow gate.
                if (!WireDecoder.TryDecodeShadow(deviceId, payload, out var shadow, out var shadowRejection))
                {
                    return Reject(shadowRejection!.Reason, message.Topic, shadowRejection.Detail);
                }

                if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
                {
                    return RejectUnknown(deviceId, message.Topic);
                }

                return shadows.StoreAsync(YoloFleet.Cloud.Shadow.ShadowWindowStorage.ToRow(shadow, time.GetUtcNow()), cancellationToken);

            default:
                return Task.CompletedTask;
        }
    }

    /// <summary>
    /// A batch of frames: each valid frame is queued like a lone one and the batch is acknowledged once all of them
    /// have committed; an invalid frame is counted under its reason and dropped without holding back the others.
    /// </summary>
    private async ValueTask<Task> HandleBatchAsync(string deviceId, string topic, System.Buffers.ReadOnlySequence<byte> payload, CancellationToken cancellationToken)
    {
        if (!WireDecoder.TryDecodeDetectionsBatch(deviceId, payload, out var batch, out var rejection))
        {
            return Reject(rejection!.Reason, topic, rejection.Detail);
        }

        if (!await admission.IsAdmittedAsync(deviceId, cancellationToken))
        {
            RefuseFrames(deviceId, batch.Frames);
            return RejectUnknown(deviceId, topic);
        }

        var receivedAt = time.GetUtcNow();
        var committed = new List<Task>(batch.Frames.Count);
        var sequences = new List<ulong>(batch.Frames.Count);
        foreach (var frame in batch.Frames)
        {
            if (WireDecoder.CheckBatchedFrame(frame, deviceId) is { } frameRejection)
            {
                RefuseFrames(deviceId, [frame]);
                _ = Reject(frameRejection.Reason, topic, $"frame {frame.Envelope?.Sequence ?? 0} of a batch: {frameRejection.Detail}");
                continue;
            }

            counters.Received(Topics.DetectionsKind);
            var pending = await queue.EnqueueAsync(ToRow(frame, receivedAt), cancellationToken);
            committed.Add(pending.Committed);
            sequences.Add(frame.Envelope!.Sequence);
        }

        var all = Task.WhenAll(committed);
        confirmations.WhenCommitted(deviceId, [.. sequences], all);
        return all;
    }

    /// <summary>Confirms batched frames as refused, each whose envelope is this device's own (others have no number to confirm).</summary>
    private void RefuseFrames(string deviceId, IEnumerable<DetectionsPublished> frames)
    {
        foreach (var frame in frames)
        {
            if (WireDecoder.IsOwnEnvelope(frame.Envelope, deviceId))
            {
                confirmations.Refused(deviceId, frame.Envelope!.Sequence);
            }
        }
    }

    private Task RejectUnknown(string deviceId, string topic) =>
        Reject(RejectReason.UnknownDevice, topic, $"device '{deviceId}' is not registered (POST /api/devices or `yolofleet devices add`)");

    private Task Reject(RejectReason reason, string topic, string detail)
    {
        counters.Rejected(reason);
        LogRejected(topic, reason, detail);
        return Refusal;
    }

    private static Task CompletedTask()
    {
        var completed = new TaskCompletionSource();
        completed.SetResult();
        return completed.Task;
    }

    private async Task AcknowledgeInOrderAsync(
        ChannelReader<(MqttApplicationMessageReceivedEventArgs Message, Task Done)> acks, CancellationToken cancellationToken)
    {
        await foreach (var (message, done) in acks.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                await done.WaitAsync(cancellationToken);
                await message.AcknowledgeAsync(cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Not committed or the connection is gone: left unacknowledged, the broker delivers it again after a
                // reconnect. Logged, because until then it holds one of the broker's in-flight slots for this silo.
                LogAcknowledgeFailed(ex, message.ApplicationMessage.Topic);
            }
            catch (Exception)
            {
                // Shutting down: left unacknowledged for redelivery.
            }
        }
    }

    internal static FrameRow ToRow(DetectionsPublished message, DateTimeOffset receivedAt)
    {
        var boxes = ToRows(message.Detections);
        return new FrameRow(
            message.Envelope.DeviceId,
            (long)message.Envelope.Sequence,
            DateTimeOffset.FromUnixTimeMilliseconds(message.CapturedAtUnixMs),
            receivedAt,
            message.ModelVersion,
            (int)message.FrameWidth,
            (int)message.FrameHeight,
            message.InferenceMs,
            message.FrameRef,
            boxes,
            message.Throttled,
            message.ModelSha256.ToLowerInvariant());
    }

    internal static HardFrameRow ToHardFrameRow(HardFrameUploaded message, DateTimeOffset receivedAt) => new(
        message.Envelope.DeviceId,
        (long)message.Envelope.Sequence,
        (long)message.DetectionsSequence,
        DateTimeOffset.FromUnixTimeMilliseconds(message.CapturedAtUnixMs),
        receivedAt,
        message.ModelVersion,
        // Free text from the device; the column is bounded, and a row that can never commit would never be acknowledged.
        Bounded(message.Reason, 32),
        message.Jpeg.Memory,
        ToRows(message.Detections),
        message.ModelSha256.ToLowerInvariant(),
        message.ShadowModelSha256.ToLowerInvariant(),
        message.ShadowModelVersion,
        ToRows(message.ShadowDetections));

    internal static ObjectEventRow ToObjectEventRow(ObjectEventPublished message, DateTimeOffset receivedAt)
    {
        static DateTimeOffset Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        var box = message.BestBox is { } b ? new DetectionRow((short)b.ClassId, b.Score, b.X1, b.Y1, b.X2, b.Y2) : (DetectionRow?)null;
        return new ObjectEventRow(
            message.Envelope.DeviceId,
            (long)message.Envelope.Sequence,
            (long)message.ObjectId,
            message.Kind switch
            {
                ObjectEventKind.Started => YoloFleet.Cloud.Data.Entities.ObjectEventRecord.Started,
                ObjectEventKind.Updated => YoloFleet.Cloud.Data.Entities.ObjectEventRecord.Updated,
                _ => YoloFleet.Cloud.Data.Entities.ObjectEventRecord.Ended,
            },
            (int)message.Revision,
            (int)message.ClassId,
            Time(message.AtUnixMs),
            Time(message.FirstSeenUnixMs),
            Time(message.LastSeenUnixMs),
            message.BestScore,
            [.. message.Zones.Select(z => new ZoneVisitRow(z.Zone, Time(z.EnteredUnixMs), z.ExitedUnixMs == 0 ? null : Time(z.ExitedUnixMs)))],
            [.. message.Lines.Select(l => new LineCrossingRow(l.Line, l.Direction, Time(l.AtUnixMs)))],
            message.BestCropJpeg.Memory,
            box,
            (int)message.FrameWidth,
            (int)message.FrameHeight,
            message.ModelVersion,
            message.ModelSha256.ToLowerInvariant(),
            message.Recovered,
            receivedAt);
    }

    private static DetectionRow[] ToRows(IReadOnlyList<YoloFleet.Contracts.Wire.Detection> detections)
    {
        var rows = new DetectionRow[detections.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            var d = detections[i];
            rows[i] = new DetectionRow((short)d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2);
        }

        return rows;
    }

    internal static TelemetryRow ToTelemetryRow(TelemetryReported message, DateTimeOffset receivedAt)
    {
        var stages = new StageLatencyRow[message.Stages.Count];
        for (var i = 0; i < stages.Length; i++)
        {
            stages[i] = new StageLatencyRow(message.Stages[i].Stage, message.Stages[i].P50Ms, message.Stages[i].P95Ms);
        }

        return new TelemetryRow(
            message.Envelope.DeviceId,
            (long)message.Envelope.Sequence,
            DateTimeOffset.FromUnixTimeMilliseconds(message.Envelope.SentAtUnixMs),
            receivedAt,
            message.FramesPerSecond,
            message.CpuPercent,
            message.RssMb,
            message.HasTemperatureC ? message.TemperatureC : null,
            message.HasThrottledFlags ? (int)message.ThrottledFlags : null,
            (long)message.OutboxDepth,
            (long)message.OutboxEvicted,
            (long)message.FramesDropped,
            (long)message.SourceFailures,
            Bounded(message.SourceError, 512),
            message.ModelVersion,
            stages,
            message.ActiveModelSha256.ToLowerInvariant(),
            message.CandidateModelSha256.ToLowerInvariant(),
            message.Throttled);
    }

    private static string Bounded(string text, int maxLength) => text.Length <= maxLength ? text : text[..maxLength];

    [LoggerMessage(Level = LogLevel.Information, Message = "Admission cache loaded with {Devices} active devices")]
    private partial void LogAdmissionLoaded(int devices);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingest subscribed at {Host}:{Port} ({Mode} subscription, session present: {SessionPresent})")]
    private partial void LogSubscribed(string host, int port, string mode, bool sessionPresent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot reach the MQTT broker at {Host}:{Port}; retrying in {DelayMs} ms")]
    private partial void LogConnectFailed(Exception ex, string host, int port, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the MQTT connection to {Host}:{Port}; reconnecting")]
    private partial void LogConnectionLost(string host, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingest left the broker at {Host}:{Port} cleanly (unsubscribed, drained, session ended)")]
    private partial void LogLeft(string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving the broker cleanly failed; unacknowledged messages will be redelivered")]
    private partial void LogLeaveFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a message on {Topic}: {Reason}: {Detail}")]
    private partial void LogRejected(string topic, RejectReason reason, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not acknowledge a message on {Topic}; the broker will deliver it again after a reconnect")]
    private partial void LogAcknowledgeFailed(Exception ex, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a message on {Topic} failed; dropped")]
    private partial void LogHandlerFailed(Exception ex, string topic);
}
