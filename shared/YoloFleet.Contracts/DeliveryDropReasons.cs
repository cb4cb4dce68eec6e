namespace YoloFleet.Contracts;

/// <summary>
/// Why a device gave up on sequence numbers (<c>DroppedRange.reason</c> in a <c>DeliveryReported</c>). Protocol v1 knows
/// exactly these; the cloud refuses any other, so the labels it counts by stay bounded. See docs/protocol.md.
/// </summary>
public static class DeliveryDropReasons
{
    /// <summary>The outbox's disk budget (<c>Agent:Outbox:MaxBytes</c>) evicted them unconfirmed.</summary>
    public const string Budget = "budget";

    /// <summary>The outbox's age limit (<c>Agent:Outbox:MaxAge</c>) evicted them unconfirmed.</summary>
    public const string Age = "age";

    /// <summary>The broker refused them for good (not authorised, invalid topic or payload).</summary>
    public const string BrokerRefused = "broker-refused";

    /// <summary>The cloud refused them for good (<c>CommitsConfirmed.refused</c>).</summary>
    public const string CloudRefused = "cloud-refused";

    /// <summary>The cloud asked for them again and the device does not hold them (numbers a crash skipped, or gone).</summary>
    public const string NotHeld = "not-held";

    /// <summary>The device held them under a kind it cannot send (written by a newer agent before a downgrade).</summary>
    public const string UnknownKind = "unknown-kind";

    public const int MaxLength = 32;

    public static readonly IReadOnlyList<string> All = [Budget, Age, BrokerRefused, CloudRefused, NotHeld, UnknownKind];

    public static bool IsKnown(string reason) => All.Contains(reason, StringComparer.Ordinal);
}
