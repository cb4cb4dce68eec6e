using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The agent process under a test that plays systemd: a Unix datagram socket passed as NOTIFY_SOCKET with
/// WATCHDOG_USEC, as systemd does for <c>Type=notify</c> and <c>WatchdogSec=</c> (deploy/systemd/yolofleet-agent.service).
/// </summary>
public sealed class AgentWatchdogTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-wdp-" + Guid.NewGuid().ToString("N")[..8]);

    public AgentWatchdogTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_agent_reports_ready_pings_the_watchdog_while_frames_flow_and_stops_cleanly_on_SIGTERM()
    {
        await TestServices.RequireMosquittoAsync();
        var (host, port) = TestServices.Mosquitto;
        var notify = Path.Combine(_directory, "notify");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(notify));

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "yolofleet-agent.dll"));
        var settings = new Dictionary<string, string>
        {
            ["Agent:DeviceId"] = "watchdog-" + Guid.NewGuid().ToString("N")[..6],
            ["Agent:ModelPath"] = SharedData.YoloxNano416,
            ["Agent:StateDirectory"] = Path.Combine(_directory, "state"),
            ["Agent:Broker:Host"] = host,
            ["Agent:Broker:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Agent:Broker:HoldWhenNoSubscriber"] = "false",
            ["Agent:Source:Folder"] = SharedData.Coco128Images,
            ["Agent:Source:Loop"] = "true",
            ["Agent:Source:MaxFps"] = "5",
            ["Agent:HardFrames:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        start.Environment["NOTIFY_SOCKET"] = notify;
        start.Environment["WATCHDOG_USEC"] = "2000000";
        using var agent = Process.Start(start) ?? throw new InvalidOperationException("could not start yolofleet-agent");
        agent.OutputDataReceived += (_, _) => { };
        agent.ErrorDataReceived += (_, _) => { };
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        var received = new List<string>();
        try
        {
            // READY=1 once, then WATCHDOG=1 about every second (half of WATCHDOG_USEC) while frames flow.
            await ReceiveUntilAsync(systemd, received, r => r.Count(m => m == "WATCHDOG=1") >= 3, TimeSpan.FromSeconds(60));
            Assert.Equal("READY=1", received[0]);

            using (var kill = Process.Start("kill", ["-TERM", agent.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill!.WaitForExitAsync();
            }

            await ReceiveUntilAsync(systemd, received, r => r.Contains("STOPPING=1"), TimeSpan.FromSeconds(30));
            await agent.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(45));
            Assert.Equal(0, agent.ExitCode);
            Assert.Equal(1, received.Count(m => m == "READY=1"));
        }
        finally
        {
            if (!agent.HasExited)
            {
                agent.Kill(entireProcessTree: true);
                await agent.WaitForExitAsync();
            }
        }
    }

    private static async Task ReceiveUntilAsync(Socket socket, List<string> received, Func<List<string>, bool> done, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        while (!done(received))
        {
            int length;
            try
            {
                length = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds} s; received: {string.Join(", ", received)}");
                return;
            }

            received.Add(Encoding.ASCII.GetString(buffer, 0, length).Trim());
        }
    }
}
