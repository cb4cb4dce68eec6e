using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using YoloFleet.Cloud.Net;
using YoloFleet.Cloud.Security;
using YoloFleet.EdgeAgent;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Inference;

namespace YoloFleet.Integration.Tests;

/// <summary>A silo's settings with broker credentials and API keys, and a credentialed agent run: the security tests' fleet.</summary>
public static class SecurityFleet
{
    public static Dictionary<string, string?> CloudSettings(
        string database, int brokerPort, bool embeddedBroker, string cloudPassword, string? passwordFile, string? apiKeyHash)
    {
        var siloPort = LoopbackPorts.GetFree();
        var settings = new Dictionary<string, string?>
        {
            ["Urls"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans"] = "Error",
            ["Cloud:Database"] = database,
            ["Cloud:Mqtt:Host"] = "127.0.0.1",
            ["Cloud:Mqtt:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Mqtt:Username"] = BrokerSecurityOptions.DefaultCloudUser,
            ["Cloud:Mqtt:Password"] = cloudPassword,
            ["Cloud:Mqtt:ShareGroup"] = "sec-" + Guid.NewGuid().ToString("N")[..8],
            ["Cloud:EmbeddedBroker:Enabled"] = embeddedBroker ? "true" : "false",
            ["Cloud:EmbeddedBroker:Port"] = brokerPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Security:PasswordFile"] = passwordFile,
            ["Cloud:Api:KeyHashes:0"] = apiKeyHash,
            ["Cloud:Silo:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:PrimarySiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:GatewayPort"] = LoopbackPorts.GetFree().ToString(CultureInfo.InvariantCulture),
            ["Cloud:Silo:ClusterId"] = "sec-" + Guid.NewGuid().ToString("N")[..8],

            // Device registration (a separate admission step after the broker's login) is not what these tests are about.
            ["Cloud:Registry:RequireRegistration"] = "false",
        };
        foreach (var unset in settings.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList())
        {
            settings.Remove(unset);
        }

        return settings;
    }

    /// <summary>Runs a real agent over <paramref name="frames"/> coco128 images, logging in as <paramref name="device"/>; returns when its outbox drained.</summary>
    public static async Task RunAgentAsync(string device, string password, int port, int frames)
    {
        var state = Path.Combine(Path.GetTempPath(), "yf-secagent-" + Guid.NewGuid().ToString("N")[..8]);
        var settings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Agent:DeviceId"] = device,
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = state,
            ["Agent:Broker:Host"] = "127.0.0.1",
            ["Agent:Broker:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Agent:Broker:Username"] = device,
            ["Agent:Broker:Password"] = password,
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:MaxFrames"] = frames.ToString(CultureInfo.InvariantCulture),
        };
        var agent = EdgeAgentHost.Build([], settings);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await agent.StartAsync(timeout.Token);
            await agent.WaitForShutdownAsync(timeout.Token);
            Assert.Equal(0, agent.Services.GetRequiredService<OutboxStore>().Depth);
            Assert.Equal(0, agent.Services.GetRequiredService<YoloFleet.EdgeAgent.Publishing.MqttPublisher>().SubscriptionsRefused);
        }
        finally
        {
            await ((IAsyncDisposable)agent).DisposeAsync();
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}
