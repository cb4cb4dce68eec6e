namespace YoloFleet.Cloud.Abstractions;

/// <summary>
/// The cloud's way to a device: publishes one message on a device's downstream topic (docs/protocol.md) at QoS 1.
/// Each silo has one (its own MQTT connection, apart from ingest's); grains and services get it by injection.
/// </summary>
public interface IDeviceDownlink
{
    /// <summary>
    /// Publishes <paramref name="payload"/> on the <paramref name="kind"/> topic of <paramref name="deviceId"/> and
    /// completes when the broker acknowledged it. A retained message replaces the topic's previous one, so a device
    /// that is offline gets the latest on reconnect.
    /// </summary>
    /// <exception cref="DownlinkUnavailableException">The broker cannot be reached or refused the message; try again later.</exception>
    Task PublishAsync(string deviceId, string kind, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken = default);
}

/// <summary>A downstream message could not be handed to the broker; nothing was sent.</summary>
public sealed class DownlinkUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
