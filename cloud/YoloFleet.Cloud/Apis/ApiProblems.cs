using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using YoloFleet.Cloud.Registry.Models;

namespace YoloFleet.Cloud.Apis;

/// <summary>
/// Every error of the HTTP API is a problem response (RFC 9457, application/problem+json) with a detail that says what
/// was wrong: endpoints return TypedResults.Problem themselves; parameters that do not bind (a malformed JSON body, a
/// limit that is not a number) and exceptions reach <see cref="ApiExceptionHandler"/>; a status without a body (404
/// for a route that does not exist, 405) is filled in by the status code pages.
/// </summary>
public static class ApiProblems
{
    public static IServiceCollection AddApiProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var request = context.HttpContext.Request;
            context.ProblemDetails.Detail ??= context.ProblemDetails.Status switch
            {
                StatusCodes.Status404NotFound => $"Nothing is at {request.Method} {request.Path}: see /openapi/v1.json for the routes.",
                StatusCodes.Status405MethodNotAllowed => $"{request.Path} does not take {request.Method}: see /openapi/v1.json for its methods.",
                _ => null,
            };
        });
        services.AddExceptionHandler<ApiExceptionHandler>();

        // Binding failures throw BadHttpRequestException (which carries what failed) instead of an empty 400.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>Before routing's endpoints: exceptions and body-less error statuses become problem responses.</summary>
    public static IApplicationBuilder UseApiProblemDetails(this IApplicationBuilder app) => app.UseExceptionHandler().UseStatusCodePages();
}

/// <summary>
/// Turns an exception into a problem response: a request that could not be bound (400, or its own status), a registry
/// refusal (by its kind), or anything else (500, logged with the trace id the response carries; nothing internal is
/// shown).
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            return true;
        }

        var (status, detail) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, bad.Message),
            ModelRegistryException registry => (registry.Kind switch
            {
                RegistryErrorKind.NotFound => StatusCodes.Status404NotFound,
                RegistryErrorKind.Conflict => StatusCodes.Status409Conflict,
                RegistryErrorKind.TooLarge => StatusCodes.Status413PayloadTooLarge,
                RegistryErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            }, registry.Message),
            _ => (StatusCodes.Status500InternalServerError, $"The silo failed on this request; its log has the error under trace id {httpContext.TraceIdentifier}."),
        };
        if (status >= StatusCodes.Status500InternalServerError)
        {
            LogFailed(logger, httpContext.Request.Method, httpContext.Request.Path, httpContext.TraceIdentifier, exception);
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails { Status = status, Detail = detail },
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed (trace id {TraceId})")]
    private static partial void LogFailed(ILogger logger, string method, string path, string traceId, Exception exception);
}
