using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using YoloFleet.Cloud.Net;

namespace YoloFleet.Cli.IngestBench;

/// <summary>
/// A mosquitto of the bench's own on a free loopback port, so the bench measures only its own traffic and knows the
/// broker's process for the CPU split. mosquitto (not the embedded MQTTnet broker) because several silos share the load
/// through MQTT 5 shared subscriptions, which MQTTnet's broker does not offer.
/// </summary>
internal sealed class BenchBroker : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private BenchBroker(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public static async Task<BenchBroker> StartAsync(string executable, CancellationToken cancellationToken)
    {
        var port = LoopbackPorts.GetFree();
        var directory = Directory.CreateTempSubdirectory("yolofleet-bench-mqtt-").FullName;
        var config = Path.Combine(directory, "mosquitto.conf");

        // The same queue settings as deploy/mosquitto/mosquitto.conf (why: see there), anonymous on loopback only.
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            per_listener_settings false
            listener {port} 127.0.0.1
            allow_anonymous true
            persistence false
            max_inflight_messages 0
            max_queued_messages 0
            max_queued_bytes 0
            max_packet_size 2162688
            set_tcp_nodelay true
            log_dest stderr
            log_type error
            log_type warning

            """), cancellationToken);
        var start = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(config);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException(
                $"Cannot run the MQTT broker '{executable}' ({ex.Message}). Install mosquitto (bash deploy/install-deps.sh) or pass --mosquitto PATH.", ex);
        }

        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var broker = new BenchBroker(process, directory, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port, cancellationToken);
                return broker;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50, cancellationToken);
            }
            catch (SocketException ex)
            {
                await broker.DisposeAsync();
                throw new InvalidOperationException($"mosquitto did not open 127.0.0.1:{port} within 10 s (exited: {process.HasExited}).", ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
