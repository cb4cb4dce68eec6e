using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;

namespace YoloFleet.Cloud.Tests;

/// <summary>The embedded broker's topic rules, which mirror deploy/mosquitto/production.acl.</summary>
public sealed class TopicAclCredentialTests
{
    private readonly DeviceTopicAcl _acl = new(["yolofleet-cloud"]);

    [Fact]
    public void A_device_publishes_only_its_own_upstream_topics()
    {
        foreach (var topic in new[] { Topics.Detections("pi-a"), Topics.DetectionsBatch("pi-a"), Topics.HardFrames("pi-a"), Topics.Telemetry("pi-a"), Topics.Ack("pi-a"), Topics.Status("pi-a") })
        {
            Assert.Equal(AclDecision.Allowed, _acl.CanPublish("pi-a", topic));
        }

        Assert.Equal(AclDecision.OtherDevice, _acl.CanPublish("pi-a", Topics.Detections("pi-b")));
        Assert.Equal(AclDecision.WrongDirection, _acl.CanPublish("pi-a", Topics.ModelAssignment("pi-a")));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanPublish("pi-a", "other/topic"));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanPublish("pi-a", Topics.DevicesPrefix + "pi-a/detections/extra"));
        Assert.Equal(AclDecision.NotADevice, _acl.CanPublish("bad user!", Topics.Detections("pi-a")));
    }

    [Fact]
    public void A_device_subscribes_only_to_its_own_downstream_topic_without_wildcards()
    {
        Assert.Equal(AclDecision.Allowed, _acl.CanSubscribe("pi-a", Topics.ModelAssignment("pi-a")));
        Assert.Equal(AclDecision.OtherDevice, _acl.CanSubscribe("pi-a", Topics.ModelAssignment("pi-b")));
        Assert.Equal(AclDecision.WrongDirection, _acl.CanSubscribe("pi-a", Topics.Detections("pi-a")));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanSubscribe("pi-a", Topics.AllDevices(Topics.ModelKind)));
        Assert.Equal(AclDecision.WrongDirection, _acl.CanSubscribe("pi-a", Topics.DeviceSubtree("pi-a")));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanSubscribe("pi-a", "#"));
    }

    [Fact]
    public void The_cloud_account_uses_the_whole_tree_and_shared_subscriptions_but_nothing_else()
    {
        Assert.Equal(AclDecision.Allowed, _acl.CanSubscribe("yolofleet-cloud", Topics.SharedAllDevices(Topics.DetectionsKind)));
        Assert.Equal(AclDecision.Allowed, _acl.CanPublish("yolofleet-cloud", Topics.ModelAssignment("pi-a")));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanSubscribe("yolofleet-cloud", "#"));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanSubscribe("yolofleet-cloud", "$share/g/#"));
        Assert.Equal(AclDecision.OutsideTree, _acl.CanPublish("yolofleet-cloud", "$SYS/x"));
    }
}
