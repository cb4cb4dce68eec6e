using System.ComponentModel.DataAnnotations;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>What takes a message out of the outbox (Agent:Delivery:Confirmation).</summary>
public enum ConfirmationMode
{
    /// <summary>
    /// The cloud's commit confirmation (<c>CommitsConfirmed</c> on the device's <c>commits</c> topic): a message leaves the
    /// outbox once the cloud has stored or refused it. The broker's PUBACK only moves the send cursor. The default, and
    /// the only mode in which no broker failure can lose data (docs/protocol.md).
    /// </summary>
    Cloud,

    /// <summary>
    /// The broker's PUBACK, as before confirmations existed: for a cloud that sends none. UNSAFE: a broker that loses
    /// what it acknowledged (restarted without persistence, killed inside its save interval) loses those messages for good.
    /// </summary>
    Broker,
}

/// <summary>Configuration section "Agent:Delivery": end-to-end delivery (docs/protocol.md, docs/edge-agent.md).</summary>
public sealed class DeliveryOptions : IValidatableObject
{
    public ConfirmationMode Confirmation { get; set; } = ConfirmationMode.Cloud;

    /// <summary>
    /// Messages published and not yet confirmed, at most. Beyond it no new message is sent until confirmations arrive,
    /// so a long cloud outage keeps the backlog on the device's disk rather than in the broker's memory. It also bounds
    /// the drain rate after an outage to this many messages per confirmation round trip (about a second).
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxUnconfirmed { get; set; } = 2000;

    /// <summary>A message published and still unconfirmed after this long is sent again (the cloud stores it once).</summary>
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// While no confirmation arrives, each further re-send of a message waits twice as long as the one before, up to this.
    /// </summary>
    public TimeSpan MaxResendInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often pending drops are gathered into <c>DeliveryReported</c> messages.</summary>
    public TimeSpan ReportInterval { get; set; } = TimeSpan.FromSeconds(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ConfirmTimeout < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult($"Agent:Delivery:ConfirmTimeout ({ConfirmTimeout}) must be at least 1 s: the cloud confirms about once a second.", [nameof(ConfirmTimeout)]);
        }

        if (MaxResendInterval < ConfirmTimeout)
        {
            yield return new ValidationResult($"Agent:Delivery:MaxResendInterval ({MaxResendInterval}) must not be below ConfirmTimeout ({ConfirmTimeout}).", [nameof(MaxResendInterval)]);
        }

        if (ReportInterval < TimeSpan.FromMilliseconds(10) || ReportInterval > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult($"Agent:Delivery:ReportInterval ({ReportInterval}) must be between 10 ms and 10 min.", [nameof(ReportInterval)]);
        }
    }
}
