using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// Exit codes of the verbs that talk to a silo (devices, models, assign, rollout, signing-key), so that a script can tell
/// what went wrong. README lists them. A command line that does not parse exits with 1 (System.CommandLine's own).
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Bad arguments, or the silo refused the request as invalid (400, 409, 413).</summary>
    public const int Invalid = 2;

    /// <summary>The model, version, job, assignment or device does not exist (404).</summary>
    public const int NotFound = 3;

    /// <summary>No API key, or a wrong one (401, 403).</summary>
    public const int Unauthorized = 4;

    /// <summary>The silo (or, for `devices add`, the database) cannot be reached, or failed (5xx).</summary>
    public const int Unavailable = 5;

    /// <summary>A quantize job failed, or did not finish within --timeout.</summary>
    public const int JobFailed = 6;
}

/// <summary>The silo's HTTP API for the CLI: --url and --api-key, JSON in and out, problem details turned into one line and an exit code.</summary>
internal sealed class SiloApi : IDisposable
{
    public const string UrlVariable = "YOLOFLEET_URL";
    public const string ApiKeyVariable = "YOLOFLEET_API_KEY";

    private readonly HttpClient _http;

    public SiloApi(string url, string? apiKey, TimeSpan timeout)
    {
        _http = new HttpClient { BaseAddress = new Uri(url.EndsWith('/') ? url : url + "/"), Timeout = timeout };
        if (!string.IsNullOrEmpty(apiKey))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
    }

    public static Option<string> UrlOption() => new("--url")
    {
        Description = $"The silo's HTTP address (default: {UrlVariable}, else http://127.0.0.1:5080).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(UrlVariable) ?? "http://127.0.0.1:5080",
    };

    public static Option<string?> ApiKeyOption() => new("--api-key")
    {
        Description = $"Operator API key (default: {ApiKeyVariable}; mint one with `yolofleet apikey`).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ApiKeyVariable),
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print the silo's JSON answer instead of a table." };

    /// <summary>Sends the request; on success the JSON body, else an exception carrying the exit code and the silo's message.</summary>
    /// <param name="headers">When given, sees a successful answer's headers.</param>
    public async Task<JsonElement> SendAsync(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, Action<HttpResponseHeaders>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new SiloApiException(ExitCodes.Unavailable, $"cannot reach the silo at {_http.BaseAddress}: {ex.Message}");
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                headers?.Invoke(response.Headers);
                return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
            }

            var detail = ProblemDetail(body) ?? $"{(int)response.StatusCode} {response.ReasonPhrase}";
            var code = response.StatusCode switch
            {
                HttpStatusCode.NotFound => ExitCodes.NotFound,
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ExitCodes.Unauthorized,
                >= HttpStatusCode.InternalServerError => ExitCodes.Unavailable,
                _ => ExitCodes.Invalid,
            };
            throw new SiloApiException(code, detail);
        }
    }

    /// <summary>
    /// Every item of a paged list endpoint ({items, nextCursor}), following the cursor page by page, as one JSON array.
    /// <paramref name="path"/> may carry its own query (filters); the cursor and limit are added to it.
    /// </summary>
    public async Task<JsonElement> ListAllAsync(string path, CancellationToken cancellationToken, int pageSize = 500)
    {
        var items = new List<JsonElement>();
        string? cursor = null;
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';

        // Bounded: a list longer than this many pages is not one a terminal can show anyway.
        for (var pages = 0; pages < 10_000; pages++)
        {
            var page = await SendAsync(
                HttpMethod.Get,
                string.Create(CultureInfo.InvariantCulture, $"{path}{separator}limit={pageSize}{(cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))}"),
                null,
                cancellationToken);
            items.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            if (cursor is null)
            {
                break;
            }
        }

        return JsonSerializer.SerializeToElement(items);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Runs a verb against the silo: errors print one line to stderr and become the exit code.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> verb)
    {
        try
        {
            return await verb();
        }
        catch (SiloApiException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message);
            return ex.ExitCode;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or UriFormatException)
        {
            await Console.Error.WriteLineAsync("error: " + BenchVerb.DescribeError(ex));
            return ExitCodes.Invalid;
        }
    }

    /// <summary>
    /// A model argument as the verbs take it: "name" (the newest version) or "name@version"; a version that is not a
    /// number is an invalid argument.
    /// </summary>
    public static (string Name, int? Version) ParseModelArgument(string text)
    {
        var at = text.LastIndexOf('@');
        if (at < 0)
        {
            return (text, null);
        }

        return int.TryParse(text.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            ? (text[..at], version)
            : throw new SiloApiException(ExitCodes.Invalid, $"'{text}': the version after '@' must be a number, e.g. yolox_nano_416@3.");
    }

    private static string? ProblemDetail(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("detail", out var detail)
                ? detail.GetString()
                : null;
        }
        catch (JsonException)
        {
            return body.Length is > 0 and < 500 ? body : null;
        }
    }
}

/// <summary>A request the silo refused or could not serve; <see cref="ExitCode"/> says which kind.</summary>
internal sealed class SiloApiException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
