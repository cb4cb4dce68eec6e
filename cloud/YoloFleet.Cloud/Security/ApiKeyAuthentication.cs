using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// The operator API's authentication scheme: an API key as 'Authorization: Bearer KEY' or 'X-Api-Key: KEY', hashed and
/// compared in constant time with Cloud:Api:KeyHashes (operator) and Cloud:Api:ReaderKeyHashes (read-only). A key
/// that is not recognised fails authentication; no key is no result. Refusals are problem responses that say what was
/// wrong (401 with WWW-Authenticate, or 403 for a read-only key on a change), counted and logged.
/// </summary>
public sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyVerifier verifier,
    IOptions<ApiSecurityOptions> apiOptions,
    SecurityCounters counters)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    private const string AnonymousName = "anonymous";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (apiOptions.Value.AllowAnonymous)
        {
            return Task.FromResult(Success(AnonymousName, ApiRole.Operator));
        }

        var key = PresentedKey(Request);
        if (!verifier.HasKeys)
        {
            return Task.FromResult(AuthenticateResult.Fail(new ApiKeyRefusal(
                RefusalReasons.ApiNoKeysConfigured, "This silo has no API keys configured (Cloud:Api:KeyHashes); mint one with `yolofleet apikey`.")));
        }

        if (key is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        return Task.FromResult(verifier.RoleOf(key) is { } role
            ? Success(role == ApiRole.Operator ? "operator-key" : "reader-key", role)
            : AuthenticateResult.Fail(new ApiKeyRefusal(RefusalReasons.ApiWrongKey, "The API key is not recognised.")));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var refusal = result.Failure as ApiKeyRefusal ?? new ApiKeyRefusal(
            RefusalReasons.ApiMissingKey, $"An API key is required: send 'Authorization: Bearer <key>' or '{HeaderName}: <key>'.");
        await RefuseAsync(StatusCodes.Status401Unauthorized, "Unauthorized", refusal);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        RefuseAsync(StatusCodes.Status403Forbidden, "Forbidden", new ApiKeyRefusal(
            RefusalReasons.ApiReadOnlyKey,
            $"This API key is read-only: {Request.Method} {Request.Path} needs an operator key (Cloud:Api:KeyHashes)."));

    private async Task RefuseAsync(int status, string title, ApiKeyRefusal refusal)
    {
        counters.Refused(refusal.Reason);
        LogRefused(Logger, Request.Method, Request.Path, Context.Connection.RemoteIpAddress?.ToString() ?? "?", refusal.Reason);
        if (status == StatusCodes.Status401Unauthorized)
        {
            Response.Headers.WWWAuthenticate = "Bearer realm=\"yolofleet\"";
        }

        await TypedResults.Problem(refusal.Message, statusCode: status, title: title).ExecuteAsync(Context);
    }

    private AuthenticateResult Success(string name, ApiRole role)
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, ApiRoles.Of(role))], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
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
    private static partial void LogRefused(ILogger logger, string method, string path, string remote, string reason);

    /// <summary>Why a request was refused: the counter's reason and the problem's detail.</summary>
    private sealed class ApiKeyRefusal(string reason, string message) : Exception(message)
    {
        public string Reason { get; } = reason;
    }
}

/// <summary>The role names carried as role claims.</summary>
public static class ApiRoles
{
    public const string Operator = "operator";
    public const string Reader = "reader";

    public static string Of(ApiRole role) => role == ApiRole.Operator ? Operator : Reader;
}

/// <summary>
/// The operator API's authorization policies. <see cref="Read"/> and <see cref="Operate"/> can be named on an endpoint
/// (RequireAuthorization); every endpoint that names none, and every request that matches no endpoint, gets the
/// fallback policy (<see cref="ApiAccess.ByMethod"/>), so /api routes added later are covered without doing anything.
/// </summary>
public static class ApiPolicies
{
    /// <summary>Any valid key: reader or operator.</summary>
    public const string Read = "api.read";

    /// <summary>An operator key.</summary>
    public const string Operate = "api.operate";

    /// <summary>The path prefix the fallback policy guards.</summary>
    public const string ApiPrefix = "/api";

    public static void Configure(AuthorizationOptions options)
    {
        options.AddPolicy(Read, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new ApiAccessRequirement(ApiAccess.Read)));
        options.AddPolicy(Operate, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new ApiAccessRequirement(ApiAccess.Operate)));
        options.FallbackPolicy = new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new ApiAccessRequirement(ApiAccess.ByMethod)).Build();
    }
}

/// <summary>What a request needs.</summary>
public enum ApiAccess
{
    /// <summary>
    /// The fallback: outside /api nothing (/healthz, static files); under /api, GET, HEAD and OPTIONS need a reader or
    /// operator key, and every other method (it changes state) an operator key.
    /// </summary>
    ByMethod,

    /// <summary>A reader or operator key, wherever the endpoint is.</summary>
    Read,

    /// <summary>An operator key, wherever the endpoint is.</summary>
    Operate,
}

public sealed record ApiAccessRequirement(ApiAccess Access) : IAuthorizationRequirement;

/// <summary>Decides <see cref="ApiAccessRequirement"/> from the request's path and method and the key's role; counts what it lets through.</summary>
public sealed class ApiAccessHandler(SecurityCounters counters) : AuthorizationHandler<ApiAccessRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiAccessRequirement requirement)
    {
        var request = (context.Resource as HttpContext)?.Request;
        var access = requirement.Access;
        if (access == ApiAccess.ByMethod)
        {
            if (request is null || !request.Path.StartsWithSegments(ApiPolicies.ApiPrefix, StringComparison.OrdinalIgnoreCase))
            {
                context.Succeed(requirement);
                return Task.CompletedTask;
            }

            access = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)
                ? ApiAccess.Read
                : ApiAccess.Operate;
        }

        if (context.User.IsInRole(ApiRoles.Operator) || (access == ApiAccess.Read && context.User.IsInRole(ApiRoles.Reader)))
        {
            counters.ApiRequestAccepted();
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}
