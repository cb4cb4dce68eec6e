using System.Net;
using System.Net.Sockets;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// A loopback TCP relay in front of a broker (or an HTTP server) that a test can cut (every connection dropped, new ones
/// refused) and restore: the network outage an edge device sees, without disturbing the other clients of the broker.
/// <see cref="CutOnceAfter"/> drops one connection mid-transfer instead, after a given number of bytes towards the
/// client, and lets the next connections through.
/// </summary>
public sealed class TcpOutageProxy : IAsyncDisposable
{
    private readonly int _targetPort;
    private readonly List<TcpClient> _connections = [];
    private readonly Lock _gate = new();
    private TcpListener? _listener;
    private CancellationTokenSource _accepting = new();
    private long _cutAfterBytes = -1;
    private long _bytesBeforeCut = -1;
    private long _bytesToClients;
    private int _accepted;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _fromClients = new();

    public TcpOutageProxy(int targetPort)
    {
        _targetPort = targetPort;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Restore();
    }

    public int Port { get; }

    /// <summary>Connections relayed since the proxy was made.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Bytes relayed towards the clients, over every connection.</summary>
    public long BytesToClients => Interlocked.Read(ref _bytesToClients);

    /// <summary>
    /// The start (up to 1 KiB, as ASCII) of each of the first 256 reads from the clients: for a test to see what an HTTP
    /// client asked for (a Range header when it resumes), without parsing the protocol.
    /// </summary>
    public IReadOnlyList<string> FromClients => [.. _fromClients];

    /// <summary>Bytes the connection cut by <see cref="CutOnceAfter"/> had relayed towards its client; -1 while none was cut.</summary>
    public long BytesBeforeCut => Interlocked.Read(ref _bytesBeforeCut);

    /// <summary>
    /// The first connection to relay <paramref name="bytes"/> towards its client is dropped right there (an abortive
    /// close, RST, as when a link drops mid-transfer); it happens once, and later connections pass untouched.
    /// </summary>
    public void CutOnceAfter(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Interlocked.Exchange(ref _cutAfterBytes, bytes);
    }

    public void Restore()
    {
        _accepting = new CancellationTokenSource();
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _ = AcceptLoopAsync(_listener, _accepting.Token);
    }

    public void Cut()
    {
        _accepting.Cancel();
        _listener?.Stop();
        lock (_gate)
        {
            foreach (var connection in _connections)
            {
                Abort(connection);
            }

            _connections.Clear();
        }
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        _accepting.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_gate)
            {
                _connections.Add(inbound);
                _connections.Add(outbound);
            }

            Interlocked.Increment(ref _accepted);
            _ = PumpAsync(inbound, outbound, toClient: false);
            _ = PumpAsync(outbound, inbound, toClient: true);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool toClient)
    {
        var buffer = new byte[16 * 1024];
        var relayed = 0L;
        try
        {
            var source = from.GetStream();
            var target = to.GetStream();
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0)
            {
                var cutAt = toClient ? Interlocked.Read(ref _cutAfterBytes) : -1;
                if (cutAt > 0 && relayed + read >= cutAt && Interlocked.CompareExchange(ref _cutAfterBytes, -1, cutAt) == cutAt)
                {
                    var last = (int)Math.Clamp(cutAt - relayed, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, last));
                    Interlocked.Add(ref _bytesToClients, last);
                    Interlocked.Exchange(ref _bytesBeforeCut, relayed + last);
                    Abort(from);
                    Abort(to);
                    return;
                }

                if (!toClient && _fromClients.Count < 256)
                {
                    _fromClients.Enqueue(System.Text.Encoding.ASCII.GetString(buffer, 0, Math.Min(read, 1024)));
                }

                await target.WriteAsync(buffer.AsMemory(0, read));
                relayed += read;
                if (toClient)
                {
                    Interlocked.Add(ref _bytesToClients, read);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    /// <summary>An abortive close (RST), as when a link drops.</summary>
    private static void Abort(TcpClient connection)
    {
        try
        {
            connection.Client?.LingerState = new LingerOption(true, 0);
        }
        catch (ObjectDisposedException)
        {
        }

        connection.Dispose();
    }
}
