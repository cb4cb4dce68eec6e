using System.Buffers;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// Decodes and checks a ModelAssigned from the cloud before anything acts on it: size (<see cref="ProtocolLimits.MaxModelAssignedPayloadBytes"/>),
/// protobuf, schema version, identifiers, variants and their URLs. Signatures and files are checked later, by the
/// assignment service.
/// </summary>
public static class ModelAssignmentDecoder
{
    public const int MaxAssignmentIdLength = 128;
    public const int MaxVariants = 16;
    public const string ActiveSlot = "active";
    public const string ShadowSlot = "shadow";

    /// <summary>
    /// Decodes <paramref name="payload"/>; false with <paramref name="problem"/> when it is malformed.
    /// <paramref name="assignmentId"/> is whatever id could be read, so a refusal can still name it. An empty slot
    /// means "active".
    /// </summary>
    public static bool TryDecode(
        in ReadOnlySequence<byte> payload, bool allowHttp, out ModelAssigned assignment, out string assignmentId, out string problem)
    {
        assignment = null!;
        assignmentId = "";
        if (payload.Length > ProtocolLimits.MaxModelAssignedPayloadBytes)
        {
            problem = $"the assignment is {payload.Length} bytes; the limit is {ProtocolLimits.MaxModelAssignedPayloadBytes}";
            return false;
        }

        ModelAssigned parsed;
        try
        {
            parsed = ModelAssigned.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            problem = "not a valid ModelAssigned protobuf message: " + ex.Message;
            return false;
        }

        assignmentId = parsed.AssignmentId.Length <= MaxAssignmentIdLength ? parsed.AssignmentId : parsed.AssignmentId[..MaxAssignmentIdLength];
        problem = Check(parsed, allowHttp) ?? "";
        if (problem.Length > 0)
        {
            return false;
        }

        if (parsed.Slot.Length == 0)
        {
            parsed.Slot = ActiveSlot;
        }

        parsed.SelectedSha256 = parsed.SelectedSha256.ToLowerInvariant();
        assignment = parsed;
        return true;
    }

    private static string? Check(ModelAssigned parsed, bool allowHttp)
    {
        if (parsed.SchemaVersion != SchemaVersions.Current)
        {
            return $"schema_version {parsed.SchemaVersion} is not supported; this agent reads {SchemaVersions.Current}";
        }

        if (parsed.AssignmentId.Length is 0 or > MaxAssignmentIdLength || parsed.AssignmentId.Any(char.IsControl))
        {
            return $"assignment_id must be 1-{MaxAssignmentIdLength} printable characters";
        }

        if (parsed.Slot is not ("" or ActiveSlot or ShadowSlot))
        {
            return $"slot '{Truncate(parsed.Slot)}' is neither '{ActiveSlot}' nor '{ShadowSlot}'";
        }

        if (parsed.Variants.Count is 0 or > MaxVariants)
        {
            return $"{parsed.Variants.Count} variants; 1-{MaxVariants} allowed";
        }

        for (var i = 0; i < parsed.Variants.Count; i++)
        {
            var variant = parsed.Variants[i];
            if (variant.ManifestJson.IsEmpty)
            {
                return $"variant {i} has no manifest";
            }

            if (!Uri.TryCreate(variant.DownloadUrl, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http"))
            {
                return $"variant {i}'s download_url is not an http(s) URL";
            }

            if (url.Scheme == "http" && !allowHttp)
            {
                return $"variant {i}'s download_url is plain http, which this agent refuses (Agent:Models:AllowHttp is off)";
            }
        }

        if (parsed.SelectedSha256.Length > 0 && (parsed.SelectedSha256.Length != 64 || !parsed.SelectedSha256.All(char.IsAsciiHexDigit)))
        {
            return "selected_sha256 is not 64 hex digits";
        }

        return float.IsFinite(parsed.MaxLatencyMs) && parsed.MaxLatencyMs >= 0 ? null : "max_latency_ms must be a finite, non-negative number";
    }

    private static string Truncate(string text) => text.Length <= 32 ? text : text[..32] + "…";
}

/// <summary>
/// Receives the retained ModelAssigned on this device's .../model topic. It runs on MQTTnet's receive loop, so it only
/// decodes and checks the message and hands it to <see cref="ModelAssignmentService"/>. A malformed one is counted,
/// logged and refused to the cloud (once per distinct payload: a retained message comes again on every reconnect).
/// An empty payload (the cloud cleared the retained assignment) is ignored.
/// </summary>
public sealed partial class ModelAssignmentHandler(
    EdgeAgentOptions options, ModelAssignmentService service, AssignmentReporter reporter, ILogger<ModelAssignmentHandler> logger)
    : IDownstreamHandler
{
    private readonly Lock _gate = new();
    private byte[]? _lastMalformedHash;
    private long _received;
    private long _malformed;

    public string Kind => Topics.ModelKind;

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Assignments refused as malformed since start (repeats of the same payload included).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    public Task HandleAsync(ReadOnlySequence<byte> payload, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _received);
        if (payload.IsEmpty)
        {
            LogCleared();
            return Task.CompletedTask;
        }

        if (ModelAssignmentDecoder.TryDecode(payload, options.Models.AllowHttp, out var assignment, out var id, out var problem))
        {
            service.Submit(assignment);
            return Task.CompletedTask;
        }

        Interlocked.Increment(ref _malformed);
        var hash = SHA256.HashData(payload.ToArray());
        lock (_gate)
        {
            if (_lastMalformedHash is not null && hash.AsSpan().SequenceEqual(_lastMalformedHash))
            {
                return Task.CompletedTask;
            }

            _lastMalformedHash = hash;
        }

        LogMalformed(id, problem);
        reporter.Report(id, ModelStages.Rejected, accepted: false, reasonCode: ModelReasonCodes.Malformed, error: problem);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The cloud cleared this device's model assignment")]
    private partial void LogCleared();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a malformed model assignment '{AssignmentId}': {Problem}")]
    private partial void LogMalformed(string assignmentId, string problem);
}
