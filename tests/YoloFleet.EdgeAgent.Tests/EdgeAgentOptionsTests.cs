using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class EdgeAgentOptionsTests
{
    [Theory]
    [InlineData("Agent:DeviceId", "bad id!", "Agent:DeviceId")]
    [InlineData("Agent:ModelPath", "/nonexistent/model.onnx", "Agent:ModelPath")]
    [InlineData("Agent:Outbox:MaxInFlight", "0", "Agent:Outbox")]
    [InlineData("Agent:HardFrames:UncertainLow", "0.9", "UncertainLow")]
    [InlineData("Agent:Broker:Port", "70000", "Agent:Broker")]
    public void A_wrong_setting_stops_the_agent_and_names_the_setting(string key, string value, string named)
    {
        var settings = ValidSettings();
        settings[key] = value;
        using var host = EdgeAgentHost.Build([], settings);
        var ex = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value);
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Valid_settings_pass()
    {
        using var host = EdgeAgentHost.Build([], ValidSettings());
        var options = host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value;
        Assert.Equal("pi-01", options.DeviceId);
        Assert.Equal(Outbox.FsyncPolicy.Interval, options.Outbox.Fsync);
    }

    private static Dictionary<string, string?> ValidSettings()
    {
        var model = Path.GetTempFileName();
        return new Dictionary<string, string?>
        {
            ["Agent:DeviceId"] = "pi-01",
            ["Agent:ModelPath"] = model,
            ["Agent:StateDirectory"] = Path.Combine(Path.GetTempPath(), "yf-opt-" + Guid.NewGuid().ToString("N")),
            ["Agent:Source:Folder"] = Path.GetTempPath(),
        };
    }
}
