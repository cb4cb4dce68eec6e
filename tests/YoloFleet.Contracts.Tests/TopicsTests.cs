using YoloFleet.Contracts;

namespace YoloFleet.Contracts.Tests;

public sealed class TopicsTests
{
    [Fact]
    public void Device_topics_follow_the_documented_tree()
    {
        Assert.Equal("yolofleet/v1/devices/pi-7/detections", Topics.Detections("pi-7"));
        Assert.Equal("yolofleet/v1/devices/pi-7/hardframes", Topics.HardFrames("pi-7"));
        Assert.Equal("yolofleet/v1/devices/pi-7/telemetry", Topics.Telemetry("pi-7"));
        Assert.Equal("yolofleet/v1/devices/pi-7/model", Topics.ModelAssignment("pi-7"));
        Assert.Equal("yolofleet/v1/devices/pi-7/ack", Topics.Ack("pi-7"));
        Assert.Equal("yolofleet/v1/devices/pi-7/status", Topics.Status("pi-7"));
        Assert.Equal("$share/yolofleet-cloud/yolofleet/v1/devices/+/detections", Topics.SharedAllDevices(Topics.DetectionsKind));
        Assert.Equal("yolofleet/v1/devices/pi-7/#", Topics.DeviceSubtree("pi-7"));
    }

    [Fact]
    public void TryParse_round_trips_and_refuses_other_shapes()
    {
        Assert.True(Topics.TryParse(Topics.Telemetry("cam_01.site-a"), out var device, out var kind));
        Assert.Equal("cam_01.site-a", device);
        Assert.Equal("telemetry", kind);

        Assert.False(Topics.TryParse("yolofleet/v1/devices/pi-7", out _, out _));
        Assert.False(Topics.TryParse("yolofleet/v1/devices/pi-7/detections/extra", out _, out _));
        Assert.False(Topics.TryParse("yolofleet/v1/devices//detections", out _, out _));
        Assert.False(Topics.TryParse("yolofleet/v2/devices/pi-7/detections", out _, out _));
        Assert.False(Topics.TryParse("yolofleet/v1/devices/bad id/detections", out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("plus+")]
    [InlineData("hash#")]
    [InlineData("slash/")]
    public void Invalid_device_ids_are_refused_with_a_clear_message(string id)
    {
        Assert.False(DeviceIds.IsValid(id));
        var ex = Assert.Throws<ArgumentException>(() => Topics.Detections(id));
        Assert.Contains("Device id", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Device_ids_are_limited_to_64_characters()
    {
        Assert.True(DeviceIds.IsValid(new string('a', 64)));
        Assert.False(DeviceIds.IsValid(new string('a', 65)));
    }
}
