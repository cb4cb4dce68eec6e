using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using YoloFleet.EdgeAgent.Pipeline;
using YoloFleet.EdgeAgent.Sources;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class WatchdogTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-wd-" + Guid.NewGuid().ToString("N")[..8]);

    public WatchdogTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void The_notify_environment_is_read_as_systemd_sets_it()
    {
        var set = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = "/run/systemd/notify", ["WATCHDOG_USEC"] = "30000000" };
        var parsed = SystemdNotifyEnvironment.Parse(name => set.GetValueOrDefault(name));
        Assert.Equal("/run/systemd/notify", parsed.NotifySocket);
        Assert.Equal(TimeSpan.FromSeconds(30), parsed.WatchdogInterval);
        Assert.True(parsed.WatchdogEnabled);

        // WATCHDOG_PID names the process the watchdog is for; another process's must be left alone.
        set["WATCHDOG_PID"] = (Environment.ProcessId + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(SystemdNotifyEnvironment.Parse(name => set.GetValueOrDefault(name)).WatchdogEnabled);

        Assert.False(SystemdNotifyEnvironment.Parse(_ => null).WatchdogEnabled);
        Assert.False(SystemdNotifyEnvironment.Parse(name => name == "WATCHDOG_USEC" ? "garbage" : set.GetValueOrDefault(name)).WatchdogEnabled);
    }

    [Fact]
    public async Task Pings_flow_with_the_frames_stop_when_the_pipeline_stalls_and_resume_after()
    {
        using var systemd = new FakeSystemd(Path.Combine(_directory, "notify"));
        var video = TestVideos.WriteCoco(Path.Combine(_directory, "wd.avi"), frames: 5);
        using var rig = new PipelineTestRig(options => options.Pipeline.Slots = 2);
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var window = TimeSpan.FromMilliseconds(400);
        var environment = new SystemdNotifyEnvironment(systemd.Path, window, null) { SendLifecycle = true };
        using var watchdog = new SystemdWatchdog(environment, rig.Liveness, lifetime, TimeProvider.System, NullLogger<SystemdWatchdog>.Instance);

        // The publish stage hangs while `stall` is set, like a wedged outbox or a deadlock.
        var stall = false;
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        rig.Pipeline.Published = async _ =>
        {
            if (Volatile.Read(ref stall))
            {
                stalled.TrySetResult();
                await release.Task;
            }
        };

        await watchdog.StartAsync(CancellationToken.None);
        lifetime.NotifyStarted();
        using var cancel = new CancellationTokenSource();
        using var source = new VideoCaptureSource(VideoSourceKind.File, video, loop: true, TimeProvider.System);
        var run = rig.Pipeline.RunAsync(source, cancel.Token);
        try
        {
            Assert.True(await Eventually.TrueAsync(() => systemd.Count("READY=1") == 1, TimeSpan.FromSeconds(10)), systemd.Describe());
            Assert.True(await Eventually.TrueAsync(() => systemd.Count("WATCHDOG=1") >= 3, TimeSpan.FromSeconds(30)), systemd.Describe());

            Volatile.Write(ref stall, true);
            await stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));

            // Within one window of the last frame the pings stop, and stay stopped while the pipeline hangs.
            await Task.Delay(window + TimeSpan.FromMilliseconds(600));
            var pingsAtStall = systemd.Count("WATCHDOG=1");
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.Equal(pingsAtStall, systemd.Count("WATCHDOG=1"));
            Assert.True(watchdog.PingsWithheld >= 3, $"withheld {watchdog.PingsWithheld}");

            release.TrySetResult();
            Volatile.Write(ref stall, false);
            Assert.True(await Eventually.TrueAsync(() => systemd.Count("WATCHDOG=1") > pingsAtStall, TimeSpan.FromSeconds(30)), systemd.Describe());
            Assert.Equal(0, watchdog.SendFailures);
        }
        finally
        {
            release.TrySetResult();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
            lifetime.StopApplication();
            await watchdog.StopAsync(CancellationToken.None);
        }

        // The datagram was sent during StopApplication; the fake systemd reads it on its own task.
        Assert.True(await Eventually.TrueAsync(() => systemd.Count("STOPPING=1") == 1, TimeSpan.FromSeconds(10)), systemd.Describe());
    }

    [Fact]
    public async Task An_expected_quiet_spell_keeps_the_pings_going()
    {
        using var systemd = new FakeSystemd(Path.Combine(_directory, "notify"));
        var liveness = new PipelineLiveness(TimeProvider.System);
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var window = TimeSpan.FromMilliseconds(300);
        var environment = new SystemdNotifyEnvironment(systemd.Path, window, null) { SendLifecycle = false };
        using var watchdog = new SystemdWatchdog(environment, liveness, lifetime, TimeProvider.System, NullLogger<SystemdWatchdog>.Instance);

        // No frame at all, but a source retry back-off announced for 3 s (as the worker does).
        liveness.ExpectQuietFor(TimeSpan.FromSeconds(3));
        await watchdog.StartAsync(CancellationToken.None);
        lifetime.NotifyStarted();
        try
        {
            Assert.True(await Eventually.TrueAsync(() => systemd.Count("WATCHDOG=1") >= 5, TimeSpan.FromSeconds(10)), systemd.Describe());
            Assert.Equal(0, watchdog.PingsWithheld);

            // Once the spell is over and nothing flows, the pings stop.
            Assert.True(await Eventually.TrueAsync(() => watchdog.PingsWithheld >= 2, TimeSpan.FromSeconds(10)));
        }
        finally
        {
            await watchdog.StopAsync(CancellationToken.None);
        }

        Assert.Equal(0, systemd.Count("READY=1"));
    }

    /// <summary>A Unix datagram socket that records sd_notify messages, as systemd's notify socket does.</summary>
    private sealed class FakeSystemd : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        private readonly List<string> _messages = [];
        private readonly Task _receiving;

        public FakeSystemd(string path)
        {
            Path = path;
            _socket.Bind(new UnixDomainSocketEndPoint(path));
            _receiving = Task.Run(ReceiveAsync);
        }

        public string Path { get; }

        public int Count(string message)
        {
            lock (_messages)
            {
                return _messages.Count(m => m == message);
            }
        }

        public string Describe()
        {
            lock (_messages)
            {
                return $"received: {string.Join(", ", _messages.GroupBy(m => m).Select(g => $"{g.Key} x{g.Count()}"))}";
            }
        }

        private async Task ReceiveAsync()
        {
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var length = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                    lock (_messages)
                    {
                        _messages.Add(Encoding.ASCII.GetString(buffer, 0, length).Trim());
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Disposed: the test is over.
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            _receiving.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
