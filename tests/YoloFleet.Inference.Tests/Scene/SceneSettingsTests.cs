using System.Text.Json;
using System.Text.Json.Serialization;
using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>The configuration shape docs/scene.md proposes for the agent, read from JSON.</summary>
[Trait("Category", "Scene")]
public sealed class SceneSettingsTests
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    [Fact]
    public void The_documented_json_gives_the_options_it_says()
    {
        var settings = JsonSerializer.Deserialize<SceneSettings>("""
            {
              "Mode": "MotionGated",
              "KeepAliveSeconds": 15,
              "ActiveDetectionSeconds": 0.2,
              "Motion": { "Threshold": 12, "BackgroundSeconds": 6 },
              "Masks": [ [0, 0, 320, 0, 320, 40, 0, 40] ],
              "Regions": { "MaxRegions": 3 },
              "Tiling": { "Enabled": true, "Overlap": 0.2 },
              "Tracker": { "MaxLostSeconds": 3 },
              "Zones": [ { "Name": "entrance", "Polygon": [100, 300, 400, 300, 400, 576, 100, 576] } ],
              "Lines": [ { "Name": "door", "From": [100, 450], "To": [400, 450], "HysteresisPixels": 6 } ],
              "Anchor": "BottomCenter",
              "EventUpdateSeconds": 30
            }
            """, Json)!;

        var options = settings.ToOptions();

        Assert.Equal((SceneMode.MotionGated, 15.0, 0.2), (options.Mode, options.KeepAliveSeconds, options.ActiveDetectionSeconds));
        Assert.Equal((12f, 6.0), (options.Motion.Threshold, options.Motion.BackgroundSeconds));
        Assert.True(Assert.Single(options.Motion.Masks).Contains(new FramePoint(10, 10)));
        Assert.Equal(3, options.Regions.MaxRegions);
        Assert.Equal((true, 0.2f), (options.Tiling.Enabled, options.Tiling.Overlap));
        Assert.Equal(3, options.Tracker.MaxLostSeconds);
        Assert.Equal("entrance", Assert.Single(options.Zones.Zones).Name);
        var line = Assert.Single(options.Zones.Lines);
        Assert.Equal(("door", new FramePoint(100, 450), new FramePoint(400, 450), 6f), (line.Name, line.From, line.To, line.HysteresisPixels));
        Assert.Equal(TimeSpan.FromSeconds(30), options.Events.UpdateInterval);
        _ = new SceneAnalyzer(options, 416, 416);
    }

    [Theory]
    [InlineData("""{ "Zones": [ { "Name": "z", "Polygon": [0, 0, 10, 0, 10] } ] }""", "Agent:Scene:Zones:0:Polygon")]
    [InlineData("""{ "Zones": [ { "Polygon": [0, 0, 10, 0, 10, 10] } ] }""", "Agent:Scene:Zones:0:Name")]
    [InlineData("""{ "Lines": [ { "Name": "l", "From": [1, 2], "To": [1] } ] }""", "Agent:Scene:Lines:0:To")]
    [InlineData("""{ "Masks": [ [0, 0, 1, 1] ] }""", "Agent:Scene:Masks:0")]
    [InlineData("""{ "KeepAliveSeconds": 0 }""", "KeepAliveSeconds")]
    [InlineData("""{ "Tracker": { "HighScore": 2 } }""", "HighScore")]
    public void A_bad_value_is_named_by_its_path(string json, string expected)
    {
        var settings = JsonSerializer.Deserialize<SceneSettings>(json, Json)!;

        var error = Assert.ThrowsAny<ArgumentException>(() => settings.ToOptions("Agent:Scene"));

        Assert.Contains(expected, error.Message);
    }
}
