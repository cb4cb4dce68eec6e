using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// Every refusal on the security boundary, counted by reason (HTTP <c>GET /api/security/stats</c>, meter
/// "YoloFleet.Cloud.Security"): broker connections, publishes and subscriptions refused by the embedded broker, and
/// operator API requests without a valid key or with a read-only key on a change.
/// </summary>
public sealed class SecurityCounters : IDisposable
{
    public const string MeterName = "YoloFleet.Cloud.Security";

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _refusedCounter;
    private readonly ConcurrentDictionary<string, long> _refused = new(StringComparer.Ordinal);
    private long _connectionsAccepted;
    private long _apiRequestsAccepted;

    public SecurityCounters() =>
        _refusedCounter = _meter.CreateCounter<long>("yolofleet.security.refused", description: "Requests refused at the security boundary, by reason");

    public void ConnectionAccepted() => Interlocked.Increment(ref _connectionsAccepted);

    public void ApiRequestAccepted() => Interlocked.Increment(ref _apiRequestsAccepted);

    /// <summary>Counts one refusal; <paramref name="reason"/> is "area.reason", e.g. "mqtt.connect.bad_password".</summary>
    public void Refused(string reason)
    {
        _refused.AddOrUpdate(reason, 1, static (_, n) => n + 1);
        _refusedCounter.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public long RefusedCount(string reason) => _refused.TryGetValue(reason, out var n) ? n : 0;

    public SecurityStats Snapshot() => new(
        Interlocked.Read(ref _connectionsAccepted),
        Interlocked.Read(ref _apiRequestsAccepted),
        new SortedDictionary<string, long>(_refused, StringComparer.Ordinal));

    public void Dispose() => _meter.Dispose();
}

public sealed record SecurityStats(long BrokerConnectionsAccepted, long ApiRequestsAccepted, IReadOnlyDictionary<string, long> RefusedByReason);

/// <summary>The reason labels <see cref="SecurityCounters"/> uses; docs/security.md lists them.</summary>
public static class RefusalReasons
{
    public const string ConnectNoCredentials = "mqtt.connect.no_credentials";
    public const string ConnectBadPassword = "mqtt.connect.bad_password";
    public const string ConnectClientIdMismatch = "mqtt.connect.client_id_mismatch";
    public const string ConnectNotADevice = "mqtt.connect.not_a_device";
    public const string PublishPrefix = "mqtt.publish.";
    public const string SubscribePrefix = "mqtt.subscribe.";
    public const string ApiMissingKey = "api.missing_key";
    public const string ApiWrongKey = "api.wrong_key";
    public const string ApiNoKeysConfigured = "api.no_keys_configured";

    /// <summary>A 403: a read-only key on a request that changes state.</summary>
    public const string ApiReadOnlyKey = "api.read_only_key";

    /// <summary>An artifact download refused: "api.artifact." and the token's problem (missing, malformed, bad_token, expired) or device_not_admitted.</summary>
    public const string ArtifactPrefix = "api.artifact.";

    public static string For(string prefix, AclDecision decision) => prefix + decision switch
    {
        AclDecision.OtherDevice => "other_device",
        AclDecision.WrongDirection => "wrong_direction",
        AclDecision.OutsideTree => "outside_tree",
        AclDecision.NotADevice => "not_a_device",
        _ => "allowed",
    };
}
