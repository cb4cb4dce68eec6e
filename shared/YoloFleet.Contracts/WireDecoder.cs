using System.Buffers;
using Google.Protobuf;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Contracts;

/// <summary>Why an incoming payload was refused. The cloud counts drops by this label.</summary>
public enum RejectReason
{
    UnknownTopic,
    Oversized,
    Malformed,
    UnsupportedSchema,
    DeviceMismatch,
    OutOfRange,
    UnknownDevice,
    Unauthorized,
}

public sealed record Rejection(RejectReason Reason, string Detail)
{
    public override string ToString() => $"{Reason}: {Detail}";
}

/// <summary>
/// Decodes and validates upstream payloads. Every check the protocol promises lives here, so the edge's own
/// tests and the cloud's ingest agree on what is valid.
/// </summary>
public static class WireDecoder
{
    /// <summary>Field 1, length-delimited: where every upstream message but a batch keeps its envelope.</summary>
    private const byte EnvelopeTag = (1 << 3) | 2;

    /// <summary>True when <paramref name="envelope"/> passes the envelope checks for the topic's device.</summary>
    public static bool IsOwnEnvelope(Envelope? envelope, string topicDeviceId) => CheckEnvelope(envelope, topicDeviceId) is null;

    public static bool TryDecodeDetections(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out DetectionsPublished message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(DetectionsPublished.Parser, payload, ProtocolLimits.MaxDetectionsPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckDetectionsMessage(parsed, topicDeviceId);
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    /// <summary>
    /// Decodes a batch and checks its size and frame count. The frames are not checked here: each gets
    /// <see cref="CheckBatchedFrame"/>, so one bad frame is dropped and counted while the others are stored.
    /// </summary>
    public static bool TryDecodeDetectionsBatch(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out DetectionsBatch batch, out Rejection? rejection)
    {
        batch = null!;
        if (!TryParse(DetectionsBatch.Parser, payload, ProtocolLimits.MaxDetectionsBatchPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        if (parsed.Frames.Count is 0 or > ProtocolLimits.MaxFramesPerBatch)
        {
            rejection = new(RejectReason.OutOfRange, $"{parsed.Frames.Count} frames in a batch; 1..{ProtocolLimits.MaxFramesPerBatch} allowed");
            return false;
        }

        batch = parsed;
        return true;
    }

    /// <summary>The checks of a lone detections message, applied to one frame of a batch.</summary>
    public static Rejection? CheckBatchedFrame(DetectionsPublished frame, string topicDeviceId)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var size = frame.CalculateSize();
        return size > ProtocolLimits.MaxDetectionsPayloadBytes
            ? new(RejectReason.Oversized, $"a batched frame is {size} bytes; the limit is {ProtocolLimits.MaxDetectionsPayloadBytes}")
            : CheckDetectionsMessage(frame, topicDeviceId);
    }

    private static Rejection? CheckDetectionsMessage(DetectionsPublished parsed, string topicDeviceId)
    {
        var rejection = CheckEnvelope(parsed.Envelope, topicDeviceId)
            ?? CheckFrame(parsed.FrameWidth, parsed.FrameHeight)
            ?? CheckText(parsed.ModelVersion, "model_version", ProtocolLimits.MaxModelVersionLength)
            ?? CheckText(parsed.FrameRef, "frame_ref", ProtocolLimits.MaxFrameRefBytes)
            ?? CheckSha256(parsed.ModelSha256, "model_sha256")
            ?? CheckDetections(parsed.Detections);
        if (parsed.CapturedAtUnixMs <= 0)
        {
            rejection ??= new(RejectReason.OutOfRange, "captured_at_unix_ms must be positive");
        }

        if (!float.IsFinite(parsed.InferenceMs) || parsed.InferenceMs < 0)
        {
            rejection ??= new(RejectReason.OutOfRange, "inference_ms must be a finite, non-negative number");
        }

        return rejection;
    }

    public static bool TryDecodeHardFrame(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out HardFrameUploaded message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(HardFrameUploaded.Parser, payload, ProtocolLimits.MaxHardFramePayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId)
            ?? CheckText(parsed.ModelVersion, "model_version", ProtocolLimits.MaxModelVersionLength)
            ?? CheckDetections(parsed.Detections)
            ?? CheckSha256(parsed.ModelSha256, "model_sha256")
            ?? CheckShadow(parsed);
        if (rejection is null && !IsJpeg(parsed.Jpeg.Span))
        {
            rejection = new(RejectReason.Malformed, "jpeg does not start with a JPEG SOI marker");
        }

        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    /// <summary>A hard frame's shadow half: boxes, hash and version all present together, or none of them.</summary>
    private static Rejection? CheckShadow(HardFrameUploaded frame)
    {
        var any = frame.ShadowDetections.Count > 0 || frame.ShadowModelSha256.Length > 0 || frame.ShadowModelVersion.Length > 0;
        if (any && frame.ShadowModelSha256.Length == 0)
        {
            return new(RejectReason.OutOfRange, "shadow_detections or shadow_model_version without shadow_model_sha256");
        }

        return CheckSha256(frame.ShadowModelSha256, "shadow_model_sha256")
            ?? CheckText(frame.ShadowModelVersion, "shadow_model_version", ProtocolLimits.MaxModelVersionLength)
            ?? CheckDetections(frame.ShadowDetections);
    }

    public static bool TryDecodeTelemetry(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out TelemetryReported message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(TelemetryReported.Parser, payload, ProtocolLimits.MaxTelemetryPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId)
            ?? CheckSha256(parsed.ActiveModelSha256, "active_model_sha256")
            ?? CheckSha256(parsed.CandidateModelSha256, "candidate_model_sha256");
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    /// <summary>
    /// Decodes a model assignment's acknowledgement (topic <c>ack</c>) and checks it: the envelope, a known stage whose
    /// <c>accepted</c> flag agrees with it (a refusal is never accepted, a progress stage always), an assignment id, every
    /// SHA-256 empty or 64 hex digits, bounded texts, and at most <see cref="ProtocolLimits.MaxBenchmarksPerAck"/>
    /// benchmarks with finite, non-negative latencies.
    /// </summary>
    public static bool TryDecodeAck(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out ModelAssignmentAcknowledged message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(ModelAssignmentAcknowledged.Parser, payload, ProtocolLimits.MaxAckPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId) ?? CheckAck(parsed);
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    private static Rejection? CheckAck(ModelAssignmentAcknowledged ack)
    {
        if (ack.AssignmentId.Length is 0 or > ProtocolLimits.MaxAssignmentIdLength || !ack.AssignmentId.All(IsTokenChar))
        {
            return new(RejectReason.OutOfRange, $"assignment_id must be 1-{ProtocolLimits.MaxAssignmentIdLength} letters, digits, '-', '_' or '.'");
        }

        if (!ModelAssignmentStages.IsKnown(ack.Stage))
        {
            return new(RejectReason.OutOfRange, $"stage '{Truncate(ack.Stage)}' is not one of {string.Join(", ", ModelAssignmentStages.All)}");
        }

        if (ack.Accepted == ModelAssignmentStages.IsRefusal(ack.Stage))
        {
            return new(RejectReason.OutOfRange, $"stage '{ack.Stage}' with accepted = {ack.Accepted}: refusals are never accepted, progress always is");
        }

        if (ack.ReasonCode.Length > ProtocolLimits.MaxReasonCodeLength || !ack.ReasonCode.All(IsTokenChar))
        {
            return new(RejectReason.OutOfRange, $"reason_code must be at most {ProtocolLimits.MaxReasonCodeLength} letters, digits, '-', '_' or '.'");
        }

        var rejection = CheckText(ack.Error, "error", ProtocolLimits.MaxAckErrorLength)
            ?? CheckText(ack.CpuFeatures, "cpu_features", ProtocolLimits.MaxCpuFeaturesLength)
            ?? CheckSha256(ack.Sha256, "sha256")
            ?? CheckSha256(ack.ActiveSha256, "active_sha256")
            ?? CheckSha256(ack.CandidateSha256, "candidate_sha256");
        if (rejection is not null)
        {
            return rejection;
        }

        if (ack.Benchmarks.Count > ProtocolLimits.MaxBenchmarksPerAck)
        {
            return new(RejectReason.OutOfRange, $"{ack.Benchmarks.Count} benchmarks; at most {ProtocolLimits.MaxBenchmarksPerAck}");
        }

        for (var i = 0; i < ack.Benchmarks.Count; i++)
        {
            var benchmark = ack.Benchmarks[i];
            if (benchmark.Sha256.Length == 0 || CheckSha256(benchmark.Sha256, $"benchmarks[{i}].sha256") is not null)
            {
                return new(RejectReason.OutOfRange, $"benchmarks[{i}].sha256 must be 64 hex digits");
            }

            if (benchmark.Precision is not ("fp32" or "int8"))
            {
                return new(RejectReason.OutOfRange, $"benchmarks[{i}].precision '{Truncate(benchmark.Precision)}' is not fp32 or int8");
            }

            if (!(float.IsFinite(benchmark.P50Ms) && benchmark.P50Ms >= 0 && float.IsFinite(benchmark.P95Ms) && benchmark.P95Ms >= 0) || benchmark.Runs == 0)
            {
                return new(RejectReason.OutOfRange, $"benchmarks[{i}]: latencies must be finite and non-negative, runs at least 1");
            }
        }

        return null;
    }

    /// <summary>
    /// Decodes an object event (topic <c>events</c>) and checks it: the envelope, the object-event contract version, a
    /// known kind, an object id, frame times that are positive and ordered (first seen ≤ last seen), a best score in
    /// [0, 1], bounded zone and line lists with named entries and known directions, a crop that is a JPEG within
    /// <see cref="ProtocolLimits.MaxObjectCropBytes"/>, and a best box that is finite and ordered.
    /// </summary>
    public static bool TryDecodeObjectEvent(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out ObjectEventPublished message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(ObjectEventPublished.Parser, payload, ProtocolLimits.MaxObjectEventPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId) ?? CheckObjectEvent(parsed);
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    private static Rejection? CheckObjectEvent(ObjectEventPublished e)
    {
        if (e.EventVersion != ObjectEvents.ContractVersion)
        {
            return new(RejectReason.UnsupportedSchema, $"event_version {e.EventVersion} is not supported; this cloud reads {ObjectEvents.ContractVersion}");
        }

        if (e.Kind is not (ObjectEventKind.Started or ObjectEventKind.Updated or ObjectEventKind.Ended))
        {
            return new(RejectReason.OutOfRange, $"kind {(int)e.Kind} is not started, updated or ended");
        }

        if (e.ObjectId == 0 || e.ObjectId > long.MaxValue)
        {
            return new(RejectReason.OutOfRange, "object_id must be between 1 and 2^63-1");
        }

        if (e.Kind == ObjectEventKind.Started && e.Revision != 0)
        {
            return new(RejectReason.OutOfRange, $"a start has revision 0; got {e.Revision}");
        }

        if (e.ClassId > 65_535)
        {
            return new(RejectReason.OutOfRange, $"class_id {e.ClassId} is too large");
        }

        if (e.AtUnixMs <= 0 || e.FirstSeenUnixMs <= 0 || e.LastSeenUnixMs < e.FirstSeenUnixMs)
        {
            return new(RejectReason.OutOfRange, "at, first_seen and last_seen must be positive times with first_seen <= last_seen");
        }

        if (!(e.BestScore >= 0f && e.BestScore <= 1f))
        {
            return new(RejectReason.OutOfRange, $"best_score {e.BestScore} is outside [0, 1]");
        }

        if (e.Zones.Count > ProtocolLimits.MaxZoneVisitsPerEvent || e.Lines.Count > ProtocolLimits.MaxLineCrossingsPerEvent)
        {
            return new(
                RejectReason.OutOfRange,
                $"{e.Zones.Count} zone visits and {e.Lines.Count} line crossings; at most {ProtocolLimits.MaxZoneVisitsPerEvent} and {ProtocolLimits.MaxLineCrossingsPerEvent}");
        }

        for (var i = 0; i < e.Zones.Count; i++)
        {
            var visit = e.Zones[i];
            if (visit.Zone.Length is 0 or > ProtocolLimits.MaxSceneNameLength)
            {
                return new(RejectReason.OutOfRange, $"zones[{i}]: the zone's name must be 1-{ProtocolLimits.MaxSceneNameLength} characters");
            }

            if (visit.EnteredUnixMs <= 0 || (visit.ExitedUnixMs != 0 && visit.ExitedUnixMs < visit.EnteredUnixMs))
            {
                return new(RejectReason.OutOfRange, $"zones[{i}]: entered must be a positive time and exited 0 (inside) or not before it");
            }
        }

        for (var i = 0; i < e.Lines.Count; i++)
        {
            var crossing = e.Lines[i];
            if (crossing.Line.Length is 0 or > ProtocolLimits.MaxSceneNameLength)
            {
                return new(RejectReason.OutOfRange, $"lines[{i}]: the line's name must be 1-{ProtocolLimits.MaxSceneNameLength} characters");
            }

            if (crossing.Direction is not (ObjectEvents.LeftToRight or ObjectEvents.RightToLeft) || crossing.AtUnixMs <= 0)
            {
                return new(RejectReason.OutOfRange, $"lines[{i}]: direction must be {ObjectEvents.LeftToRight} or {ObjectEvents.RightToLeft}, at a positive time");
            }
        }

        if (e.BestCropJpeg.Length > ProtocolLimits.MaxObjectCropBytes)
        {
            return new(RejectReason.Oversized, $"best_crop_jpeg is {e.BestCropJpeg.Length} bytes; the limit is {ProtocolLimits.MaxObjectCropBytes}");
        }

        if (e.BestCropJpeg.Length > 0 && !IsJpeg(e.BestCropJpeg.Span))
        {
            return new(RejectReason.Malformed, "best_crop_jpeg does not start with a JPEG SOI marker");
        }

        if (e.BestBox is { } box && CheckDetections([box]) is { } boxRejection)
        {
            return new(boxRejection.Reason, "best_box: " + boxRejection.Detail);
        }

        return (e.FrameWidth != 0 || e.FrameHeight != 0 ? CheckFrame(e.FrameWidth, e.FrameHeight) : null)
            ?? CheckText(e.ModelVersion, "model_version", ProtocolLimits.MaxModelVersionLength)
            ?? CheckSha256(e.ModelSha256, "model_sha256");
    }

    /// <summary>An optional SHA-256 field: empty, or 64 hex digits.</summary>
    private static Rejection? CheckSha256(string value, string field) =>
        value.Length == 0 || (value.Length == 64 && value.All(char.IsAsciiHexDigit))
            ? null
            : new(RejectReason.OutOfRange, $"{field} must be empty or a SHA-256 of 64 hex digits");

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';

    /// <summary>
    /// Decodes a <c>DeliveryReported</c>: 1..<see cref="ProtocolLimits.MaxDroppedRangesPerReport"/> ranges, each
    /// ordered, within 1..2^63-1, below the report's own sequence (a device reports numbers it has already used), with a
    /// known reason and no more messages than numbers.
    /// </summary>
    public static bool TryDecodeDelivery(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out DeliveryReported message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(DeliveryReported.Parser, payload, ProtocolLimits.MaxDeliveryPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId) ?? CheckDropped(parsed.Dropped, parsed.Envelope!.Sequence);
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    /// <summary>
    /// Decodes a <c>ShadowReported</c> (one window of a candidate in shadow): both SHA-256 present, a window that does not
    /// end before it starts, shadowed plus budget-skipped frames within the window's frames, throttled ones within the
    /// shadowed, latencies finite and non-negative, and a CPU share within 0..1.
    /// </summary>
    public static bool TryDecodeShadow(
        string topicDeviceId, in ReadOnlySequence<byte> payload, out ShadowReported message, out Rejection? rejection)
    {
        message = null!;
        if (!TryParse(ShadowReported.Parser, payload, ProtocolLimits.MaxShadowPayloadBytes, out var parsed, out rejection))
        {
            return false;
        }

        rejection = CheckEnvelope(parsed.Envelope, topicDeviceId) ?? CheckShadowWindow(parsed);
        if (rejection is not null)
        {
            return false;
        }

        message = parsed;
        return true;
    }

    private static Rejection? CheckShadowWindow(ShadowReported window)
    {
        if (window.ActiveSha256.Length == 0 || window.CandidateSha256.Length == 0)
        {
            return new(RejectReason.OutOfRange, "active_sha256 and candidate_sha256 are both required");
        }

        if ((CheckSha256(window.ActiveSha256, "active_sha256") ?? CheckSha256(window.CandidateSha256, "candidate_sha256")) is { } badHash)
        {
            return badHash;
        }

        if (window.WindowEndUnixMs < window.WindowStartUnixMs)
        {
            return new(RejectReason.OutOfRange, $"window_end_unix_ms {window.WindowEndUnixMs} is before window_start_unix_ms {window.WindowStartUnixMs}");
        }

        if ((ulong)window.ShadowedFrames + window.SkippedForBudget > window.Frames || window.ThrottledFrames > window.ShadowedFrames)
        {
            return new(RejectReason.OutOfRange,
                $"frame counts disagree: {window.ShadowedFrames} shadowed + {window.SkippedForBudget} skipped of {window.Frames} frames, {window.ThrottledFrames} throttled");
        }

        float[] latencies = [window.ActiveP50Ms, window.ActiveP95Ms, window.CandidateP50Ms, window.CandidateP95Ms];
        if (!latencies.All(ms => float.IsFinite(ms) && ms >= 0))
        {
            return new(RejectReason.OutOfRange, "latencies must be finite and non-negative");
        }

        return window.ShadowCpuShare is >= 0f and <= 1f
            ? null
            : new(RejectReason.OutOfRange, $"shadow_cpu_share {window.ShadowCpuShare} is not within 0..1");
    }

    private static Rejection? CheckDropped(IReadOnlyList<DroppedRange> dropped, ulong reportSequence)
    {
        if (dropped.Count is 0 or > ProtocolLimits.MaxDroppedRangesPerReport)
        {
            return new(RejectReason.OutOfRange, $"{dropped.Count} dropped ranges; 1..{ProtocolLimits.MaxDroppedRangesPerReport} allowed");
        }

        for (var i = 0; i < dropped.Count; i++)
        {
            var d = dropped[i];
            if (d.First == 0 || d.First > d.Last || d.Last >= reportSequence)
            {
                return new(RejectReason.OutOfRange, $"dropped range {i}: [{d.First}, {d.Last}] is not an ordered range of numbers below the report's own {reportSequence}");
            }

            if (!DeliveryDropReasons.IsKnown(d.Reason))
            {
                return new(RejectReason.OutOfRange, $"dropped range {i}: reason '{Truncate(d.Reason)}' is not one of {string.Join(", ", DeliveryDropReasons.All)}");
            }

            if (d.Messages > d.Last - d.First + 1)
            {
                return new(RejectReason.OutOfRange, $"dropped range {i}: {d.Messages} messages in {d.Last - d.First + 1} numbers");
            }
        }

        return null;
    }

    /// <summary>
    /// Reads just the envelope of an upstream message that carries one as field 1 (every kind but
    /// <c>detections-batch</c>), without parsing the rest: the sequence of a message refused for another reason, so the
    /// cloud can tell the device it was refused. False unless the envelope is present, first, and passes the envelope
    /// checks for <paramref name="topicDeviceId"/>.
    /// </summary>
    public static bool TryReadSequence(string topicDeviceId, in ReadOnlySequence<byte> payload, out ulong sequence)
    {
        sequence = 0;

        // An envelope is about 100 bytes (device ids are at most 64); a few hundred cover its tag and length.
        Span<byte> head = stackalloc byte[256];
        var length = (int)Math.Min(payload.Length, head.Length);
        payload.Slice(0, length).CopyTo(head);
        var input = head[..length];
        if (input.Length < 2 || input[0] != EnvelopeTag)
        {
            return false;
        }

        // The envelope's length as a varint (at most two bytes for anything that fits in the head).
        int envelopeLength, offset;
        if (input[1] < 0x80)
        {
            envelopeLength = input[1];
            offset = 2;
        }
        else if (input.Length > 2 && input[2] < 0x80)
        {
            envelopeLength = (input[1] & 0x7F) | (input[2] << 7);
            offset = 3;
        }
        else
        {
            return false;
        }

        if (offset + envelopeLength > input.Length)
        {
            return false;
        }

        Envelope envelope;
        try
        {
            envelope = Envelope.Parser.ParseFrom(input.Slice(offset, envelopeLength));
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }

        if (CheckEnvelope(envelope, topicDeviceId) is not null)
        {
            return false;
        }

        sequence = envelope.Sequence;
        return true;
    }

    private static bool TryParse<T>(MessageParser<T> parser, in ReadOnlySequence<byte> payload, int maxBytes, out T message, out Rejection? rejection)
        where T : IMessage<T>
    {
        message = default!;
        if (payload.Length > maxBytes)
        {
            rejection = new(RejectReason.Oversized, $"payload is {payload.Length} bytes; the limit is {maxBytes}");
            return false;
        }

        try
        {
            message = parser.ParseFrom(payload);
            rejection = null;
            return true;
        }
        catch (InvalidProtocolBufferException ex)
        {
            rejection = new(RejectReason.Malformed, "not a valid protobuf message: " + ex.Message);
            return false;
        }
    }

    private static Rejection? CheckEnvelope(Envelope? envelope, string topicDeviceId)
    {
        if (envelope is null)
        {
            return new(RejectReason.Malformed, "envelope is missing");
        }

        if (envelope.SchemaVersion != SchemaVersions.Current)
        {
            return new(RejectReason.UnsupportedSchema, $"schema_version {envelope.SchemaVersion} is not supported; this cloud reads {SchemaVersions.Current}");
        }

        if (!string.Equals(envelope.DeviceId, topicDeviceId, StringComparison.Ordinal))
        {
            return new(RejectReason.DeviceMismatch, $"envelope device_id '{Truncate(envelope.DeviceId)}' differs from the topic's '{topicDeviceId}'");
        }

        if (envelope.Sequence == 0 || envelope.Sequence > long.MaxValue)
        {
            return new(RejectReason.OutOfRange, "sequence must be between 1 and 2^63-1");
        }

        return null;
    }

    private static Rejection? CheckFrame(uint width, uint height) =>
        width is 0 or > ProtocolLimits.MaxFrameSide || height is 0 or > ProtocolLimits.MaxFrameSide
            ? new(RejectReason.OutOfRange, $"frame size {width}x{height} is outside 1..{ProtocolLimits.MaxFrameSide}")
            : null;

    private static Rejection? CheckText(string value, string field, int maxLength) =>
        value.Length > maxLength ? new(RejectReason.OutOfRange, $"{field} is longer than {maxLength} characters") : null;

    private static Rejection? CheckDetections(IReadOnlyList<Detection> detections)
    {
        if (detections.Count > ProtocolLimits.MaxDetectionsPerFrame)
        {
            return new(RejectReason.OutOfRange, $"{detections.Count} detections; at most {ProtocolLimits.MaxDetectionsPerFrame} per frame");
        }

        for (var i = 0; i < detections.Count; i++)
        {
            var d = detections[i];
            if (!(d.Score >= 0f && d.Score <= 1f))
            {
                return new(RejectReason.OutOfRange, $"detection {i}: score {d.Score} is outside [0, 1]");
            }

            if (!float.IsFinite(d.X1) || !float.IsFinite(d.Y1) || !float.IsFinite(d.X2) || !float.IsFinite(d.Y2) || d.X2 < d.X1 || d.Y2 < d.Y1)
            {
                return new(RejectReason.OutOfRange, $"detection {i}: box ({d.X1}, {d.Y1}, {d.X2}, {d.Y2}) is not finite or not ordered");
            }

            if (d.ClassId > 65_535)
            {
                return new(RejectReason.OutOfRange, $"detection {i}: class_id {d.ClassId} is too large");
            }
        }

        return null;
    }

    private static bool IsJpeg(ReadOnlySpan<byte> bytes) => bytes.Length >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8;

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
