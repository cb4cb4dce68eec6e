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
    [InlineData("Agent:Models:TrustedKeys:0", "/nonexistent/key.pem", "Agent:Models:TrustedKeys")]
    [InlineData("Agent:Models:TrustedKeys:0", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "Agent:Models:TrustedKeys")]
    [InlineData("Agent:Models:MaxLatencyMs", "0", "Agent:Models")]
    [InlineData("Agent:Models:SelfTestImage", "/nonexistent/image.jpg", "Agent:Models:SelfTestImage")]
    [InlineData("Agent:Models:ConfirmTimeout", "00:00:00", "Agent:Models:ConfirmTimeout")]
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

    [Fact]
    public void Trusted_keys_are_taken_as_pem_text_or_as_pem_files()
    {
        using var signer = new YoloFleet.Integration.Tests.Infrastructure.TestModelSigner();
        var folder = Path.Combine(Path.GetTempPath(), "yf-keys-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var settings = ValidSettings();
            settings["Agent:Models:TrustedKeys:0"] = signer.PublicKeyPem;
            settings["Agent:Models:TrustedKeys:1"] = signer.WritePublicKey(folder);
            using var host = EdgeAgentHost.Build([], settings);
            var options = host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value;

            using var trust = YoloFleet.EdgeAgent.Models.TrustedKeyLoader.Load(options.Models.TrustedKeys);
            Assert.Equal([signer.KeyId], trust.KeyIds);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
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
