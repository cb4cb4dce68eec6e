using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>How a download ended.</summary>
public enum DownloadOutcome
{
    /// <summary>The file has exactly the expected size (its hash is the caller's to check).</summary>
    Complete,

    /// <summary>The server sent more bytes than the manifest's size: the artifact is not the one signed.</summary>
    TooLarge,

    /// <summary>The attempts ran out, or the server refused for good (a 4xx answer).</summary>
    Failed,
}

public sealed record DownloadResult(DownloadOutcome Outcome, string Detail, bool Resumed, int Attempts);

/// <summary>
/// Fetches a model file over HTTP(S) into a ".part" file, resuming after a lost connection: the bytes already on disk
/// stay, and the next request asks for the rest with <c>Range: bytes=N-</c>. A server that ignores the range (answers
/// 200 with the whole file) is read from the start again. Never more than the manifest's size is written. Failed
/// attempts are retried with exponential back-off, bounded by <see cref="ModelOptions.DownloadAttempts"/> attempts that
/// make no progress; an attempt that moved the file forward does not count against it. A connection silent for
/// <see cref="ModelOptions.DownloadStallTimeout"/> is dropped and resumed.
/// </summary>
public sealed partial class ModelDownloader(HttpClient http, ModelOptions options, TimeProvider time, ILogger<ModelDownloader> logger)
{
    private const int BufferBytes = 64 * 1024;

    /// <summary>Called after each chunk written, with the bytes now in the .part file (the crash hook and progress use it).</summary>
    public Action<long, long>? Progress { get; set; }

    /// <summary>Downloads <paramref name="url"/> into <paramref name="partPath"/> until it holds <paramref name="expectedBytes"/>.</summary>
    public async Task<DownloadResult> DownloadAsync(Uri url, string partPath, long expectedBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(expectedBytes);
        var resumed = File.Exists(partPath) && new FileInfo(partPath).Length > 0;
        var failures = 0;
        var attempts = 0;
        var delay = options.DownloadRetryDelay;
        var lastError = "";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            attempts++;
            var before = File.Exists(partPath) ? new FileInfo(partPath).Length : 0;
            if (before > expectedBytes)
            {
                File.Delete(partPath);
                before = 0;
            }

            if (before == expectedBytes)
            {
                return new DownloadResult(DownloadOutcome.Complete, "", resumed, attempts);
            }

            AttemptResult attempt;
            try
            {
                attempt = await AttemptAsync(url, partPath, before, expectedBytes, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                                       && ex is HttpRequestException or IOException or OperationCanceledException or TimeoutException)
            {
                attempt = new AttemptResult(AttemptStatus.Retry, ex is OperationCanceledException ? "the connection stalled" : ex.Message);
            }

            var after = File.Exists(partPath) ? new FileInfo(partPath).Length : 0;
            resumed |= before > 0 && after > before;
            switch (attempt.Status)
            {
                case AttemptStatus.Complete:
                    return new DownloadResult(DownloadOutcome.Complete, "", resumed, attempts);
                case AttemptStatus.TooLarge:
                    return new DownloadResult(DownloadOutcome.TooLarge, attempt.Detail, resumed, attempts);
                case AttemptStatus.Refused:
                    return new DownloadResult(DownloadOutcome.Failed, attempt.Detail, resumed, attempts);
            }

            lastError = attempt.Detail;
            if (after > before)
            {
                // Progress: resume at once, and this attempt does not count against the limit.
                failures = 0;
                delay = options.DownloadRetryDelay;
                LogResuming(url.GetLeftPart(UriPartial.Path), after, expectedBytes, lastError);
                continue;
            }

            if (++failures >= options.DownloadAttempts)
            {
                return new DownloadResult(DownloadOutcome.Failed, $"{failures} attempts without progress; last: {lastError}", resumed, attempts);
            }

            LogRetrying(url.GetLeftPart(UriPartial.Path), lastError, delay.TotalSeconds);
            await Task.Delay(delay, time, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.DownloadMaxRetryDelay.Ticks));
        }
    }

    private async Task<AttemptResult> AttemptAsync(Uri url, string partPath, long offset, long expectedBytes, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (offset > 0)
        {
            request.Headers.Range = new RangeHeaderValue(offset, null);
        }

        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(options.DownloadStallTimeout);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The .part no longer fits what the server has: start again from nothing.
            File.Delete(partPath);
            return new AttemptResult(AttemptStatus.Retry, "the server refused the range (416); starting again");
        }

        if (!response.IsSuccessStatusCode)
        {
            var code = (int)response.StatusCode;
            var detail = $"HTTP {code} {response.ReasonPhrase}";
            return code is >= 400 and < 500 and not 408 and not 429
                ? new AttemptResult(AttemptStatus.Refused, detail)
                : new AttemptResult(AttemptStatus.Retry, detail);
        }

        var append = offset > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        if (append && response.Content.Headers.ContentRange is { From: { } from } && from != offset)
        {
            File.Delete(partPath);
            return new AttemptResult(AttemptStatus.Retry, $"the server answered the range from {offset} with bytes from {from}; starting again");
        }

        if (!append && offset > 0)
        {
            LogRangeIgnored(url.GetLeftPart(UriPartial.Path), offset);
        }

        var written = append ? offset : 0;
        var buffer = new byte[BufferBytes];
        await using (var file = new FileStream(partPath, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, BufferBytes))
        await using (var body = await response.Content.ReadAsStreamAsync(stall.Token))
        {
            while (true)
            {
                stall.CancelAfter(options.DownloadStallTimeout);
                var read = await body.ReadAsync(buffer, stall.Token);
                if (read == 0)
                {
                    break;
                }

                if (written + read > expectedBytes)
                {
                    await file.WriteAsync(buffer.AsMemory(0, (int)(expectedBytes - written)), cancellationToken);
                    return new AttemptResult(AttemptStatus.TooLarge, $"the server sent more than the {expectedBytes} bytes the manifest names");
                }

                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                written += read;

                // Flushed to the kernel at once, so a crash of the agent keeps every byte counted in the file's length.
                await file.FlushAsync(cancellationToken);
                Progress?.Invoke(written, expectedBytes);
            }

            file.Flush(flushToDisk: true);
        }

        return written == expectedBytes
            ? new AttemptResult(AttemptStatus.Complete, "")
            : new AttemptResult(AttemptStatus.Retry, $"the connection ended after {written} of {expectedBytes} bytes");
    }

    private enum AttemptStatus
    {
        Complete,
        Retry,
        TooLarge,
        Refused,
    }

    private readonly record struct AttemptResult(AttemptStatus Status, string Detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Download of {Url} interrupted at {Bytes} of {Total} bytes ({Error}); resuming")]
    private partial void LogResuming(string url, long bytes, long total, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Download of {Url} failed ({Error}); retrying in {Seconds} s")]
    private partial void LogRetrying(string url, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "The server of {Url} ignored the range from byte {Offset}; downloading from the start")]
    private partial void LogRangeIgnored(string url, long offset);
}
