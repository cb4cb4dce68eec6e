using Microsoft.Extensions.Options;

namespace YoloFleet.Cloud.Security;

public static class SecurityExtensions
{
    /// <summary>Binds and validates Cloud:Security and Cloud:Api, and registers the security counters.</summary>
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
        return builder;
    }

    /// <summary>API keys on /api (before the endpoints are mapped).</summary>
    public static IApplicationBuilder UseOperatorApiKeys(this IApplicationBuilder app) => app.UseMiddleware<ApiKeyMiddleware>();
}

/// <summary>Checks Cloud:Mqtt:Tls with the other Cloud settings at start.</summary>
public sealed class SiloBrokerTlsValidator : IValidateOptions<CloudOptions>
{
    public ValidateOptionsResult Validate(string? name, CloudOptions options) =>
        options.Mqtt.Tls.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
