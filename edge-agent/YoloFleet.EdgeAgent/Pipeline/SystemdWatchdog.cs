using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace YoloFleet.EdgeAgent.Pipeline;

/// <summary>What systemd hands a <c>Type=notify</c> service: NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (sd_notify(3)).</summary>
public sealed record SystemdNotifyEnvironment(string? NotifySocket, TimeSpan? WatchdogInterval, int? WatchdogPid)
{
    /// <summary>
    /// Whether the agent itself sends READY=1 and STOPPING=1. Microsoft.Extensions.Hosting.Systemd sends them only when
    /// systemd is the parent process (or the agent is PID 1); a supervisor that hands over NOTIFY_SOCKET another way
    /// (a container's init, a test acting as systemd) gets them from us instead, never from both.
    /// </summary>
    public bool SendLifecycle { get; init; }

    /// <summary>The watchdog applies to this process: a socket, an interval, and WATCHDOG_PID unset or ours.</summary>
    public bool WatchdogEnabled =>
        NotifySocket is not null && WatchdogInterval > TimeSpan.Zero && (WatchdogPid is null || WatchdogPid == Environment.ProcessId);

    public static SystemdNotifyEnvironment FromEnvironment() =>
        Parse(Environment.GetEnvironmentVariable) with { SendLifecycle = !SystemdHelpers.IsSystemdService() };

    public static SystemdNotifyEnvironment Parse(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        var socket = variable("NOTIFY_SOCKET") is { Length: > 0 } path ? path : null;
        TimeSpan? interval = long.TryParse(variable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0
            ? TimeSpan.FromMicroseconds(usec)
            : null;
        int? pid = int.TryParse(variable("WATCHDOG_PID"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : null;
        return new SystemdNotifyEnvironment(socket, interval, pid) { SendLifecycle = socket is not null };
    }
}

/// <summary>
/// The systemd watchdog keep-alive: every half of WATCHDOG_USEC it sends WATCHDOG=1 over NOTIFY_SOCKET (a Unix datagram
/// socket), but only while <see cref="PipelineLiveness"/> says frames are flowing or the quiet is expected (a source
/// retry, the frame-rate cap, the final drain). A stalled pipeline stops the pings, and systemd restarts the agent
/// after WatchdogSec. Without NOTIFY_SOCKET (not under systemd) it does nothing.
/// </summary>
public sealed partial class SystemdWatchdog : BackgroundService
{
    private static readonly byte[] WatchdogPing = Encoding.ASCII.GetBytes("WATCHDOG=1");

    private readonly SystemdNotifyEnvironment _environment;
    private readonly PipelineLiveness _liveness;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger<SystemdWatchdog> _logger;
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;
    private long _pingsSent;
    private long _pingsWithheld;
    private long _sendFailures;

    public SystemdWatchdog(
        SystemdNotifyEnvironment environment, PipelineLiveness liveness, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<SystemdWatchdog> logger)
    {
        _environment = environment;
        _liveness = liveness;
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
        if (environment.NotifySocket is { } path)
        {
            // A leading '@' names a socket in the abstract namespace.
            _endpoint = new UnixDomainSocketEndPoint(path.StartsWith('@') ? "\0" + path[1..] : path);
            _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        }
    }

    public long PingsSent => Interlocked.Read(ref _pingsSent);

    /// <summary>Ticks at which the pipeline was stalled, so no ping went out.</summary>
    public long PingsWithheld => Interlocked.Read(ref _pingsWithheld);

    /// <summary>Notifications the socket refused (systemd gone, or the path is wrong).</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (_socket is not null && _environment.SendLifecycle)
        {
            _lifetime.ApplicationStarted.Register(() => Send(Encoding.ASCII.GetBytes("READY=1")));
            _lifetime.ApplicationStopping.Register(() => Send(Encoding.ASCII.GetBytes("STOPPING=1")));
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_socket is null || !_environment.WatchdogEnabled)
        {
            return;
        }

        var window = _environment.WatchdogInterval!.Value;
        LogWatchdogOn(window.TotalSeconds);
        var stalled = false;
        using var timer = new PeriodicTimer(window / 2, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (_liveness.IsAlive(window))
            {
                if (stalled)
                {
                    LogResumed();
                    stalled = false;
                }

                if (Send(WatchdogPing))
                {
                    Interlocked.Increment(ref _pingsSent);
                }
            }
            else
            {
                Interlocked.Increment(ref _pingsWithheld);
                if (!stalled)
                {
                    LogStalled(_liveness.SinceProgress.TotalSeconds);
                    stalled = true;
                }
            }
        }
    }

    private bool Send(byte[] state)
    {
        try
        {
            _socket!.SendTo(state, _endpoint!);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _sendFailures);
            LogSendFailed(_environment.NotifySocket!, ex.Message);
            return false;
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _socket?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "systemd watchdog on: WatchdogSec {Seconds} s, pinging at half of it while frames flow")]
    private partial void LogWatchdogOn(double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "The pipeline has made no progress for {Seconds:F1} s; withholding the watchdog ping so that systemd restarts the agent")]
    private partial void LogStalled(double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "The pipeline made progress again; watchdog pings resumed")]
    private partial void LogResumed();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not notify systemd at '{Socket}': {Error}")]
    private partial void LogSendFailed(string socket, string error);
}
