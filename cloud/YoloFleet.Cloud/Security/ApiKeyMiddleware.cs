using Microsoft.Extensions.Options;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// Requires a valid API key on every request under /api (Authorization: Bearer KEY, or X-Api-Key: KEY) unless
/// Cloud:Api:AllowAnonymous is set. /healthz and anything outside /api stay open, and so does /api/artifacts, which
/// devices call with a per-device download token instead (its endpoint checks the token; docs/registry.md).
/// Refusals are 401 problem responses that say what was wrong, and are counted and logged.
/// </summary>
public sealed partial class ApiKeyMiddleware(
    RequestDelegate next, IOptions<ApiSecurityOptions> options, SecurityCounters counters, ILogger<ApiKeyMiddleware> logger)
{
    public const string HeaderName = "X-Api-Key";

    /// <summary>Authorised by download tokens, not API keys: devices hold no operator key.</summary>
    public const string ArtifactsPath = "/api/artifacts";

    private readonly ApiKeyVerifier _verifier = new(options.Value.KeyHashes);
    private readonly bool _allowAnonymous = options.Value.AllowAnonymous;

    public async Task InvokeAsync(HttpContext context)
    {
        if (_allowAnonymous || !context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            || context.Request.Path.StartsWithSegments(ArtifactsPath, StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        var key = PresentedKey(context.Request);
        (string Reason, string Detail)? refusal =
            !_verifier.HasKeys ? (RefusalReasons.ApiNoKeysConfigured, "This silo has no API keys configured (Cloud:Api:KeyHashes); mint one with `yolofleet apikey`.")
            : key is null ? (RefusalReasons.ApiMissingKey, $"An API key is required: send 'Authorization: Bearer <key>' or '{HeaderName}: <key>'.")
            : !_verifier.IsValid(key) ? (RefusalReasons.ApiWrongKey, "The API key is not recognised.")
            : null;
        if (refusal is not { } r)
        {
            counters.ApiRequestAccepted();
            await next(context);
            return;
        }

        counters.Refused(r.Reason);
        LogRefused(context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "?", r.Reason);
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"yolofleet\"";
        await Results.Problem(r.Detail, statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized").ExecuteAsync(context);
    }

    private static string? PresentedKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization["Bearer ".Length..].Trim();
            return token.Length > 0 ? token : null;
        }

        var header = request.Headers[HeaderName].ToString().Trim();
        return header.Length > 0 ? header : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} {Path} from {Remote}: {Reason}")]
    private partial void LogRefused(string method, string path, string remote, string reason);
}
