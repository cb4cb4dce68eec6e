using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Protocol;
using MQTTnet.Server;
using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Mqtt;

/// <summary>
/// An MQTTnet broker for single-machine use (the demo, tests, a small site), bound to loopback unless told otherwise.
/// Configured so that a QoS 1 burst is delivered whole: MQTTnet drops the oldest queued message past
/// MaxPendingMessagesPerClient (default 1000), so the limit is raised and every drop is counted.
/// With a <see cref="BrokerAccessPolicy"/> it checks user names and passwords against a mosquitto password file and
/// enforces the per-device topic ACL (<see cref="DeviceTopicAcl"/>); every refusal is counted by reason and logged.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly ILogger _logger;

    // MQTTnet 5.2 raises the overwrite event more than once for one dropped packet; count each packet once.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<MQTTnet.Packets.MqttPacket, object> _dropped = [];
    private long _droppedMessages;
    private long _rejectedPublishes;

    private readonly BrokerAccessPolicy? _access;

    private EmbeddedBroker(MqttServer server, int port, ILogger logger, BrokerAccessPolicy? access)
    {
        _server = server;
        Port = port;
        _logger = logger;
        _access = access;
    }

    public int Port { get; }

    /// <summary>Queued messages the broker discarded because a client's queue was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    /// <summary>Publishes refused at the broker (oversized).</summary>
    public long RejectedPublishes => Interlocked.Read(ref _rejectedPublishes);

    /// <param name="access">Who may connect and where they may publish and subscribe; null: anyone, anywhere (tests only).</param>
    public static async Task<EmbeddedBroker> StartAsync(
        int port, int maxPendingMessagesPerClient, IPAddress? bindAddress = null, ILogger? logger = null, BrokerAccessPolicy? access = null)
    {
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(bindAddress ?? IPAddress.Loopback)
            .WithDefaultEndpointPort(port)
            .WithMaxPendingMessagesPerClient(maxPendingMessagesPerClient)
            .WithPendingMessagesOverflowStrategy(MqttPendingMessagesOverflowStrategy.DropOldestQueuedMessage)
            .WithPersistentSessions(true)
            .Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        var broker = new EmbeddedBroker(server, port, logger ?? NullLogger.Instance, access);
        server.QueuedApplicationMessageOverwrittenAsync += broker.OnMessageDroppedAsync;
        server.InterceptingPublishAsync += broker.OnInterceptingPublishAsync;
        if (access is not null)
        {
            server.ValidatingConnectionAsync += broker.OnValidatingConnectionAsync;
            server.InterceptingSubscriptionAsync += broker.OnInterceptingSubscriptionAsync;
        }

        await server.StartAsync();
        broker._logger.LogInformation("Embedded MQTT broker listening on {Address}:{Port}", bindAddress ?? IPAddress.Loopback, port);
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync(new MqttServerStopOptions());
        _server.Dispose();
    }

    private Task OnMessageDroppedAsync(QueueMessageOverwrittenEventArgs args)
    {
        if (!_dropped.TryAdd(args.Packet, args))
        {
            return Task.CompletedTask;
        }

        Interlocked.Increment(ref _droppedMessages);
        _logger.LogWarning("Broker queue full for client {ClientId}: dropped its oldest queued message", args.ReceiverClientId);
        return Task.CompletedTask;
    }

    private Task OnInterceptingPublishAsync(InterceptingPublishEventArgs args)
    {
        if (args.ApplicationMessage.Payload.Length > ProtocolLimits.MaxPacketBytes)
        {
            args.ProcessPublish = false;
            Interlocked.Increment(ref _rejectedPublishes);
            _logger.LogWarning(
                "Refused a {Bytes}-byte publish from {ClientId} on {Topic}: the limit is {Limit}",
                args.ApplicationMessage.Payload.Length, args.ClientId, args.ApplicationMessage.Topic, ProtocolLimits.MaxPacketBytes);
            return Task.CompletedTask;
        }

        // Messages the broker injects itself (no client) are not subject to the ACL.
        if (_access is null || string.IsNullOrEmpty(args.ClientId) || _access.IsUnrestricted(args.UserName))
        {
            return Task.CompletedTask;
        }

        var decision = _access.Acl.CanPublish(args.UserName, args.ApplicationMessage.Topic);
        if (decision != AclDecision.Allowed)
        {
            args.ProcessPublish = false;
            args.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            _access.Counters.Refused(RefusalReasons.For(RefusalReasons.PublishPrefix, decision));
            _logger.LogWarning("Refused a publish from {User} ({ClientId}) on {Topic}: {Decision}", args.UserName, args.ClientId, args.ApplicationMessage.Topic, decision);
        }

        return Task.CompletedTask;
    }

    private Task OnValidatingConnectionAsync(ValidatingConnectionEventArgs args)
    {
        var access = _access!;
        string? reason = null;
        if (string.IsNullOrEmpty(args.UserName))
        {
            if (!access.AllowAnonymous)
            {
                reason = RefusalReasons.ConnectNoCredentials;
                args.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            }
        }
        else if (access.Passwords is null || !access.Passwords.Verify(args.UserName, args.Password ?? ""))
        {
            reason = RefusalReasons.ConnectBadPassword;
            args.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
        }
        else if (!access.Acl.IsCloudUser(args.UserName) && !DeviceIds.IsValid(args.UserName))
        {
            reason = RefusalReasons.ConnectNotADevice;
            args.ReasonCode = MqttConnectReasonCode.NotAuthorized;
        }
        else if (access.RequireClientIdMatchesUser && !access.Acl.IsCloudUser(args.UserName)
                 && !string.Equals(args.ClientId, args.UserName, StringComparison.Ordinal))
        {
            // A device that could pick any client id could take over another device's persistent session.
            reason = RefusalReasons.ConnectClientIdMismatch;
            args.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
        }

        if (reason is null)
        {
            access.Counters.ConnectionAccepted();
            return Task.CompletedTask;
        }

        access.Counters.Refused(reason);
        _logger.LogWarning(
            "Refused an MQTT connection from {Endpoint} (user {User}, client {ClientId}): {Reason}",
            args.RemoteEndPoint, args.UserName ?? "(anonymous)", args.ClientId, reason);
        return Task.CompletedTask;
    }

    private Task OnInterceptingSubscriptionAsync(InterceptingSubscriptionEventArgs args)
    {
        var access = _access!;
        if (access.IsUnrestricted(args.UserName))
        {
            return Task.CompletedTask;
        }

        var decision = access.Acl.CanSubscribe(args.UserName, args.TopicFilter.Topic);
        if (decision != AclDecision.Allowed)
        {
            args.ProcessSubscription = false;
            args.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
            access.Counters.Refused(RefusalReasons.For(RefusalReasons.SubscribePrefix, decision));
            _logger.LogWarning("Refused a subscription from {User} ({ClientId}) to {Filter}: {Decision}", args.UserName, args.ClientId, args.TopicFilter.Topic, decision);
        }

        return Task.CompletedTask;
    }
}

/// <summary>What the embedded broker enforces: the password file, the ACL, and whether anonymous clients may connect.</summary>
public sealed class BrokerAccessPolicy(PasswordFile? passwords, DeviceTopicAcl acl, SecurityCounters counters, bool allowAnonymous, bool requireClientIdMatchesUser = true)
{
    public PasswordFile? Passwords { get; } = passwords;

    public DeviceTopicAcl Acl { get; } = acl;

    public SecurityCounters Counters { get; } = counters;

    public bool AllowAnonymous { get; } = allowAnonymous;

    public bool RequireClientIdMatchesUser { get; } = requireClientIdMatchesUser;

    public static BrokerAccessPolicy From(BrokerSecurityOptions options, SecurityCounters counters) => new(
        string.IsNullOrEmpty(options.PasswordFile) ? null : PasswordFile.Load(options.PasswordFile),
        new DeviceTopicAcl(options.EffectiveCloudUsers),
        counters,
        options.AllowAnonymous,
        options.RequireClientIdMatchesUser);

    /// <summary>Anonymous clients (admitted only when <see cref="AllowAnonymous"/>) are not confined; named ones are.</summary>
    public bool IsUnrestricted(string? userName) => string.IsNullOrEmpty(userName) && AllowAnonymous;
}
