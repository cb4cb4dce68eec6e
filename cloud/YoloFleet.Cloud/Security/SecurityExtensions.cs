using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace YoloFleet.Cloud.Security;

public static class SecurityExtensions
{
    /// <summary>
    /// Binds and validates Cloud:Security and Cloud:Api, registers the security counters, and the operator API's
    /// authentication (API keys) and authorization (roles; the fallback policy covers every /api route).
    /// </summary>
    public static WebApplicationBuilder AddFleetSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<BrokerSecurityOptions>()
            .Bind(builder.Configuration.GetSection(BrokerSecurityOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<ApiSecurityOptions>()
            .Bind(builder.Configuration.GetSection(ApiSecurityOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<CloudOptions>, SiloBrokerTlsValidator>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<BrokerSecurityOptions>>().Value);
        builder.Services.AddSingleton<SecurityCounters>();
        builder.Services.AddSingleton(sp =>
        {
            var api = sp.GetRequiredService<IOptions<ApiSecurityOptions>>().Value;
            return new ApiKeyVerifier(api.KeyHashes, api.ReaderKeyHashes);
        });
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization(ApiPolicies.Configure);
        builder.Services.AddSingleton<IAuthorizationHandler, ApiAccessHandler>();
        return builder;
    }

    /// <summary>API keys and roles on /api (after routing, before the endpoints run).</summary>
    public static IApplicationBuilder UseOperatorAuthorization(this IApplicationBuilder app) => app.UseAuthentication().UseAuthorization();
}

/// <summary>Checks Cloud:Mqtt:Tls with the other Cloud settings at start.</summary>
public sealed class SiloBrokerTlsValidator : IValidateOptions<CloudOptions>
{
    public ValidateOptionsResult Validate(string? name, CloudOptions options) =>
        options.Mqtt.Tls.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
