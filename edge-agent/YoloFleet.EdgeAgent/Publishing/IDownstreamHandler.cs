using System.Buffers;

namespace YoloFleet.EdgeAgent.Publishing;

/// <summary>
/// Handles one kind of downstream message (cloud → device, <see cref="YoloFleet.Contracts.Topics.DownstreamKinds"/>):
/// register it in the host and <see cref="MqttPublisher"/> routes every message of that kind to it. A handler that
/// throws is logged and counted; the connection and the upstream traffic carry on.
/// </summary>
public interface IDownstreamHandler
{
    /// <summary>The topic kind handled ("model", "commits").</summary>
    string Kind { get; }

    /// <summary>Handles one message; it runs on MQTTnet's receive loop, so hand long work to a background task.</summary>
    Task HandleAsync(ReadOnlySequence<byte> payload, CancellationToken cancellationToken);
}
