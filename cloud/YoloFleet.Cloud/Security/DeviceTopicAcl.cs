using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// Who may publish and subscribe where: the same rules as deploy/mosquitto/production.acl. A device's user name is its
/// device id; it may publish only its own upstream topics and subscribe only to its own downstream topic (exactly,
/// no wildcards). Cloud accounts may publish and subscribe anywhere under <c>yolofleet/v1/</c>, including shared
/// subscriptions. Everything else is refused.
/// </summary>
public sealed class DeviceTopicAcl(IEnumerable<string> cloudUsers)
{
    /// <summary>The kinds a device publishes (device → cloud, docs/protocol.md).</summary>
    public static readonly IReadOnlyList<string> UpstreamKinds = [.. Topics.UpstreamKinds, Topics.StatusKind];

    /// <summary>The kinds a device receives (cloud → device).</summary>
    public static readonly IReadOnlyList<string> DownstreamKinds = Topics.DownstreamKinds;

    private readonly HashSet<string> _cloudUsers = new(cloudUsers, StringComparer.Ordinal);

    public bool IsCloudUser(string? user) => user is not null && _cloudUsers.Contains(user);

    public AclDecision CanPublish(string? user, string topic)
    {
        if (IsCloudUser(user))
        {
            return topic.StartsWith(Topics.Root + "/", StringComparison.Ordinal) ? AclDecision.Allowed : AclDecision.OutsideTree;
        }

        if (!DeviceIds.IsValid(user))
        {
            return AclDecision.NotADevice;
        }

        if (!Topics.TryParse(topic, out var device, out var kind))
        {
            return AclDecision.OutsideTree;
        }

        if (!string.Equals(device, user, StringComparison.Ordinal))
        {
            return AclDecision.OtherDevice;
        }

        return UpstreamKinds.Contains(kind) ? AclDecision.Allowed : AclDecision.WrongDirection;
    }

    public AclDecision CanSubscribe(string? user, string filter)
    {
        if (IsCloudUser(user))
        {
            var unshared = filter;
            if (filter.StartsWith("$share/", StringComparison.Ordinal))
            {
                var slash = filter.IndexOf('/', "$share/".Length);
                unshared = slash < 0 ? "" : filter[(slash + 1)..];
            }

            return unshared.StartsWith(Topics.Root + "/", StringComparison.Ordinal) ? AclDecision.Allowed : AclDecision.OutsideTree;
        }

        if (!DeviceIds.IsValid(user))
        {
            return AclDecision.NotADevice;
        }

        // Exact topics only: a wildcard could reach other devices' topics.
        if (!Topics.TryParse(filter, out var device, out var kind))
        {
            return AclDecision.OutsideTree;
        }

        if (!string.Equals(device, user, StringComparison.Ordinal))
        {
            return AclDecision.OtherDevice;
        }

        return DownstreamKinds.Contains(kind) ? AclDecision.Allowed : AclDecision.WrongDirection;
    }
}

public enum AclDecision
{
    Allowed,

    /// <summary>A device's topic, but not the caller's.</summary>
    OtherDevice,

    /// <summary>The caller's own topic in the wrong direction (a device publishing its model assignment, say).</summary>
    WrongDirection,

    /// <summary>Not a topic of the YoloFleet tree (or a wildcard filter from a device).</summary>
    OutsideTree,

    /// <summary>The user name is neither a cloud account nor a valid device id.</summary>
    NotADevice,
}
