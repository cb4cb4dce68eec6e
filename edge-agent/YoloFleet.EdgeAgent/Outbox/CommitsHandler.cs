using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Publishing;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>
/// Applies the cloud's <c>CommitsConfirmed</c> (downstream kind <c>commits</c>) to the outbox: committed and refused
/// numbers are settled (refused ones reported dropped as <c>cloud-refused</c>), numbers to send again are due at once or
/// reported <c>not-held</c>. A message that breaks the protocol's limits is counted and ignored: unconfirmed messages
/// are then simply sent again later.
/// </summary>
public sealed partial class CommitsHandler(OutboxStore outbox, ILogger<CommitsHandler> logger) : IDownstreamHandler
{
    private long _received;
    private long _invalid;
    private long _settled;

    public string Kind => Topics.CommitsKind;

    /// <summary>Confirmations applied.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Confirmations ignored because they broke the protocol (oversized, not protobuf, wrong schema, bad ranges).</summary>
    public long Invalid => Interlocked.Read(ref _invalid);

    /// <summary>Outbox messages the confirmations settled.</summary>
    public long Settled => Interlocked.Read(ref _settled);

    public Task HandleAsync(ReadOnlySequence<byte> payload, CancellationToken cancellationToken)
    {
        if (Decode(payload, out var message) is { } problem)
        {
            Interlocked.Increment(ref _invalid);
            LogInvalid(problem);
            return Task.CompletedTask;
        }

        Interlocked.Increment(ref _received);
        ulong settled = 0;
        foreach (var range in message.Committed)
        {
            settled += outbox.Confirm(range.First, range.Last);
        }

        foreach (var range in message.Refused)
        {
            settled += outbox.Confirm(range.First, range.Last, refused: true);
        }

        foreach (var range in message.Resend)
        {
            outbox.RequestResend(range.First, range.Last);
        }

        Interlocked.Add(ref _settled, (long)settled);
        if (message.Resend.Count > 0)
        {
            LogResendRequested(message.Resend.Count, message.Resend[0].First, message.Resend[^1].Last);
        }

        return Task.CompletedTask;
    }

    /// <summary>Parses and checks a confirmation; returns why it is unusable, or null.</summary>
    public static string? Decode(ReadOnlySequence<byte> payload, out CommitsConfirmed message)
    {
        message = null!;
        if (payload.Length > ProtocolLimits.MaxCommitsPayloadBytes)
        {
            return $"{payload.Length} bytes; the limit is {ProtocolLimits.MaxCommitsPayloadBytes}";
        }

        CommitsConfirmed parsed;
        try
        {
            parsed = CommitsConfirmed.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return "not a CommitsConfirmed: " + ex.Message;
        }

        if (parsed.SchemaVersion != SchemaVersions.Current)
        {
            return $"schema_version {parsed.SchemaVersion}; this agent reads {SchemaVersions.Current}";
        }

        foreach (var (name, ranges) in new[] { ("committed", parsed.Committed), ("refused", parsed.Refused), ("resend", parsed.Resend) })
        {
            if (ranges.Count > ProtocolLimits.MaxRangesPerConfirmationList)
            {
                return $"{ranges.Count} {name} ranges; at most {ProtocolLimits.MaxRangesPerConfirmationList}";
            }

            foreach (var range in ranges)
            {
                if (range.First == 0 || range.First > range.Last || range.Last > long.MaxValue)
                {
                    return $"{name} range [{range.First}, {range.Last}] is not an ordered range within 1..2^63-1";
                }
            }
        }

        message = parsed;
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a commit confirmation from the cloud: {Problem}")]
    private partial void LogInvalid(string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "The cloud asked for {Ranges} range(s) again, from {First} to {Last}")]
    private partial void LogResendRequested(int ranges, ulong first, ulong last);
}
