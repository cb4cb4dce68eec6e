using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>One request the artifact server answered.</summary>
public sealed record ArtifactRequest(string Name, long RangeFrom, int Status, long BytesSent, bool Cut);

/// <summary>
/// A model artifact server on loopback (HttpListener): serves files by name with HTTP Range support, as a registry's
/// download endpoint does, and can misbehave on purpose: cut a connection after some bytes (a link that drops
/// mid-transfer), ignore Range headers, or refuse with a status code. Files are served from where they lie (the shared
/// models by path), never copied into the repository. Used by the agent's unit tests and the integration tests; the
/// cloud's end-to-end test may put the registry's real endpoint in its place.
/// </summary>
public sealed class ArtifactServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, Func<byte[]>> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentQueue<long>> _cuts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _refusals = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ArtifactServer()
    {
        // HttpListener cannot take port 0, so a free port is found first (and retried should another process take it).
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/"));
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>Answer 200 with the whole file whatever Range asks (a server or proxy without range support).</summary>
    public bool IgnoreRange { get; set; }

    public ConcurrentQueue<ArtifactRequest> Requests { get; } = new();

    public Uri Url(string name) => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/artifacts/{name}"));

    /// <summary>Serves the file at <paramref name="path"/> (read at each request) as <paramref name="name"/>.</summary>
    public Uri ServeFile(string name, string path)
    {
        _files[name] = () => File.ReadAllBytes(path);
        return Url(name);
    }

    /// <summary>Serves <paramref name="content"/> as <paramref name="name"/>.</summary>
    public Uri ServeBytes(string name, byte[] content)
    {
        _files[name] = () => content;
        return Url(name);
    }

    /// <summary>The next request for <paramref name="name"/> is cut (connection aborted) after <paramref name="bytes"/> bytes of body; calls queue up.</summary>
    public void CutNextAfter(string name, long bytes) => _cuts.GetOrAdd(name, _ => new ConcurrentQueue<long>()).Enqueue(bytes);

    /// <summary>Every request for <paramref name="name"/> is answered with <paramref name="status"/> from now on.</summary>
    public void Refuse(string name, HttpStatusCode status) => _refusals[name] = (int)status;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var response = context.Response;
        var name = context.Request.Url!.AbsolutePath.Split('/')[^1];
        try
        {
            if (_refusals.TryGetValue(name, out var refusal))
            {
                Requests.Enqueue(new ArtifactRequest(name, 0, refusal, 0, false));
                response.StatusCode = refusal;
                response.Close();
                return;
            }

            if (!_files.TryGetValue(name, out var read))
            {
                Requests.Enqueue(new ArtifactRequest(name, 0, 404, 0, false));
                response.StatusCode = 404;
                response.Close();
                return;
            }

            var content = read();
            var from = IgnoreRange ? 0 : RangeStart(context.Request.Headers["Range"]);
            if (from >= content.Length && from > 0)
            {
                Requests.Enqueue(new ArtifactRequest(name, from, 416, 0, false));
                response.StatusCode = 416;
                response.AddHeader("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes */{content.Length}"));
                response.Close();
                return;
            }

            response.StatusCode = from > 0 ? 206 : 200;
            response.AddHeader("Accept-Ranges", "bytes");
            if (from > 0)
            {
                response.AddHeader("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes {from}-{content.Length - 1}/{content.Length}"));
            }

            response.ContentLength64 = content.Length - from;
            response.ContentType = "application/octet-stream";
            long cutAfter = -1;
            if (_cuts.TryGetValue(name, out var cuts) && cuts.TryDequeue(out var cut))
            {
                cutAfter = cut;
            }

            var length = cutAfter >= 0 ? Math.Min(cutAfter, content.Length - from) : content.Length - from;

            // Recorded before the body goes out: a client that has it all may look at the record at once.
            Requests.Enqueue(new ArtifactRequest(name, from, response.StatusCode, length, cutAfter >= 0));
            await response.OutputStream.WriteAsync(content.AsMemory((int)from, (int)length));
            await response.OutputStream.FlushAsync();
            if (cutAfter >= 0)
            {
                // The link drops: the client has the bytes sent so far and a connection that ends early.
                await Task.Delay(50);
                response.Abort();
                return;
            }

            response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away first.
        }
    }

    private static long RangeStart(string? header)
    {
        // Only "bytes=N-" is used by the agent; anything else is answered whole.
        if (header is null || !header.StartsWith("bytes=", StringComparison.Ordinal) || !header.EndsWith('-'))
        {
            return 0;
        }

        return long.TryParse(header.AsSpan(6, header.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var from) ? from : 0;
    }
}
