using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Apis;

/// <summary>
/// The operator API's OpenAPI document at /openapi/v1.json. It needs a key like /api (any role): it maps the whole
/// surface, which is nobody else's business. It declares the bearer scheme (the API key) on every operation but the
/// artifact download, which takes a device's token in its URL instead.
/// </summary>
public static class OpenApiDocument
{
    public const string Path = "/openapi/{documentName}.json";

    public static IServiceCollection AddFleetOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "YoloFleet operator API",
                    Version = "v1",
                    Description = "Every /api endpoint needs an API key (Authorization: Bearer KEY): read-only keys may GET, operator keys may also " +
                        "change state. Errors are problem details; lists are paged with limit and cursor. See docs/security.md.",
                };
                return Task.CompletedTask;
            });
            options.AddDocumentTransformer<BearerSchemeTransformer>();
        });

    public static IEndpointConventionBuilder MapFleetOpenApi(this IEndpointRouteBuilder app) =>
        app.MapOpenApi(Path).RequireAuthorization(ApiPolicies.Read);

    /// <summary>The API key as an HTTP bearer scheme, required on every operation that is not anonymous.</summary>
    private sealed class BearerSchemeTransformer : IOpenApiDocumentTransformer
    {
        private const string SchemeName = "ApiKey";

        public Task TransformAsync(Microsoft.OpenApi.OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                In = ParameterLocation.Header,
                Description = "An operator or read-only API key (yolofleet apikey [--role reader]); X-Api-Key: KEY is accepted too.",
            };

            var anonymous = context.DescriptionGroups
                .SelectMany(group => group.Items)
                .Where(item => item.ActionDescriptor.EndpointMetadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any())
                .Select(item => StripConstraints("/" + item.RelativePath?.Split('?')[0]))
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var (path, item) in document.Paths)
            {
                if (anonymous.Contains(StripConstraints(path)) || item.Operations is null)
                {
                    continue;
                }

                foreach (var operation in item.Operations.Values)
                {
                    operation.Security ??= [];
                    operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SchemeName, document)] = [] });
                }
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>"/api/models/{name}/{version:int}" as the document writes it: "/api/models/{name}/{version}".</summary>
    public static string StripConstraints(string route) =>
        System.Text.RegularExpressions.Regex.Replace(route, @"\{([^}:=?]+)[^}]*\}", "{$1}");
}
