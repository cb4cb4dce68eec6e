using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Tests;

/// <summary>
/// Operator API keys and roles on a real Kestrel listener on loopback, wired as the silo wires them (AddFleetSecurity,
/// AddApiProblemDetails, UseApiProblemDetails and UseOperatorAuthorization before the endpoints). The full silo is
/// covered by the integration tests (OperatorApiTests, SecurityEmbeddedBrokerTests).
/// </summary>
[Trait("Category", "Security")]
public sealed class ApiAuthTests
{
    [Fact]
    public async Task Every_api_endpoint_needs_a_valid_key_and_healthz_stays_open()
    {
        var (key, hash) = ApiKeys.Mint();
        var (otherKey, otherHash) = ApiKeys.Mint();
        await using var app = await StartAsync(new() { ["Cloud:Api:KeyHashes:0"] = otherHash, ["Cloud:Api:KeyHashes:1"] = hash });
        using var http = new HttpClient { BaseAddress = new Uri(Address(app)) };

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);

        var missing = await http.GetAsync("/api/thing");
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Contains("Bearer", missing.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("An API key is required", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/thing");
        wrong.Headers.Authorization = new("Bearer", key + "x");
        var wrongResponse = await http.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);
        Assert.Contains("not recognised", await wrongResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Case of the path does not get around it.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/API/thing")).StatusCode);

        using var bearer = new HttpRequestMessage(HttpMethod.Get, "/api/thing");
        bearer.Headers.Authorization = new("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(bearer)).StatusCode);

        using var header = new HttpRequestMessage(HttpMethod.Get, "/api/thing");
        header.Headers.Add(ApiKeyAuthenticationHandler.HeaderName, otherKey);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(header)).StatusCode);

        var counters = app.Services.GetRequiredService<SecurityCounters>();
        Assert.Equal(2, counters.RefusedCount(RefusalReasons.ApiMissingKey));
        Assert.Equal(1, counters.RefusedCount(RefusalReasons.ApiWrongKey));
        Assert.Equal(2, counters.Snapshot().ApiRequestsAccepted);
    }

    [Fact]
    public async Task With_no_keys_configured_the_api_is_closed_and_says_how_to_open_it()
    {
        await using var app = await StartAsync([]);
        using var http = new HttpClient { BaseAddress = new Uri(Address(app)) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/thing");
        request.Headers.Authorization = new("Bearer", ApiKeys.Mint().Key);

        var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<ProblemBody>();
        Assert.Contains("Cloud:Api:KeyHashes", problem!.Detail, StringComparison.Ordinal);
        Assert.Equal(1, app.Services.GetRequiredService<SecurityCounters>().RefusedCount(RefusalReasons.ApiNoKeysConfigured));
    }

    [Fact]
    public async Task Anonymous_access_only_when_configured()
    {
        await using var app = await StartAsync(new() { ["Cloud:Api:AllowAnonymous"] = "true" });
        using var http = new HttpClient { BaseAddress = new Uri(Address(app)) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/thing")).StatusCode);
    }

    [Theory]
    [InlineData("not-a-hash")]
    [InlineData("sha256:1234")]
    public async Task A_malformed_key_hash_stops_the_start_and_names_the_setting(string hash)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(new() { ["Cloud:Api:KeyHashes:0"] = hash }));
        Assert.Contains("Cloud:Api:KeyHashes:0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Minted_keys_are_distinct_and_hash_to_their_configured_form()
    {
        var (key, hash) = ApiKeys.Mint();
        Assert.StartsWith(ApiKeys.Prefix, key, StringComparison.Ordinal);
        Assert.True(key.Length >= 40);
        Assert.Equal(hash, ApiKeys.Hash(key));
        Assert.NotEqual(key, ApiKeys.Mint().Key);
        Assert.True(new ApiKeyVerifier([hash.ToUpperInvariant().Replace("SHA256:", "", StringComparison.Ordinal)]).IsValid(key));
    }

    [Fact]
    public void The_verifier_tells_the_role_of_each_key_and_nothing_for_an_unknown_one()
    {
        var (operatorKey, operatorHash) = ApiKeys.Mint();
        var (readerKey, readerHash) = ApiKeys.Mint();
        var verifier = new ApiKeyVerifier([operatorHash], [readerHash]);
        Assert.Equal(ApiRole.Operator, verifier.RoleOf(operatorKey));
        Assert.Equal(ApiRole.Reader, verifier.RoleOf(readerKey));
        Assert.Null(verifier.RoleOf(readerKey + "x"));
        Assert.Null(new ApiKeyVerifier([], []).RoleOf(operatorKey));
    }

    [Fact]
    public async Task A_read_only_key_may_read_but_not_change_and_an_operator_key_may_do_both()
    {
        var (operatorKey, operatorHash) = ApiKeys.Mint();
        var (readerKey, readerHash) = ApiKeys.Mint();
        await using var app = await StartAsync(new() { ["Cloud:Api:KeyHashes:0"] = operatorHash, ["Cloud:Api:ReaderKeyHashes:0"] = readerHash });
        using var http = new HttpClient { BaseAddress = new Uri(Address(app)) };

        async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? key)
        {
            using var request = new HttpRequestMessage(method, path);
            if (method == HttpMethod.Post)
            {
                request.Content = JsonContent.Create(new Thing("a", 1));
            }

            if (key is not null)
            {
                request.Headers.Authorization = new("Bearer", key);
            }

            return await http.SendAsync(request);
        }

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/thing", readerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/read-only-policy", readerKey)).StatusCode);

        var post = await SendAsync(HttpMethod.Post, "/api/thing", readerKey);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Equal("application/problem+json", post.Content.Headers.ContentType?.MediaType);
        var problem = await post.Content.ReadFromJsonAsync<ProblemBody>();
        Assert.Equal(403, problem!.Status);
        Assert.Contains("read-only", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("POST /api/thing", problem.Detail, StringComparison.Ordinal);
        Assert.Empty(post.Headers.WwwAuthenticate);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Delete, "/api/thing", readerKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Get, "/api/operator-policy", readerKey)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/thing", operatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/thing", operatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/operator-policy", operatorKey)).StatusCode);

        // Outside /api the fallback asks for nothing; a route that does not exist under /api still needs a key first.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/page", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/api/no-such-thing", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Post, "/api/thing", null)).StatusCode);

        var counters = app.Services.GetRequiredService<SecurityCounters>();
        Assert.Equal(3, counters.RefusedCount(RefusalReasons.ApiReadOnlyKey));
        Assert.Equal(2, counters.RefusedCount(RefusalReasons.ApiMissingKey));
        Assert.Equal(5, counters.Snapshot().ApiRequestsAccepted);
    }

    [Fact]
    public async Task A_hash_in_both_role_lists_stops_the_start_and_names_the_setting()
    {
        var (_, hash) = ApiKeys.Mint();
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(
            () => StartAsync(new() { ["Cloud:Api:KeyHashes:0"] = hash, ["Cloud:Api:ReaderKeyHashes:0"] = hash.ToUpperInvariant().Replace("SHA256:", "", StringComparison.Ordinal) }));
        Assert.Contains("Cloud:Api:ReaderKeyHashes:0 is also in Cloud:Api:KeyHashes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_error_under_api_is_a_problem_response_with_a_detail()
    {
        var (key, hash) = ApiKeys.Mint();
        await using var app = await StartAsync(new() { ["Cloud:Api:KeyHashes:0"] = hash });
        using var http = new HttpClient { BaseAddress = new Uri(Address(app)) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);

        async Task<ProblemBody> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
        {
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await response.Content.ReadFromJsonAsync<ProblemBody>();
            Assert.Equal((int)status, problem!.Status);
            Assert.False(string.IsNullOrWhiteSpace(problem.Title));
            Assert.False(string.IsNullOrWhiteSpace(problem.Detail));
            return problem;
        }

        var missing = await ProblemAsync(await http.GetAsync("/api/no-such-thing"), HttpStatusCode.NotFound);
        Assert.Contains("GET /api/no-such-thing", missing.Detail, StringComparison.Ordinal);

        var conflict = await ProblemAsync(await http.GetAsync("/api/conflict"), HttpStatusCode.Conflict);
        Assert.Equal("Version 3 is held by rollout ro-1.", conflict.Detail);

        using var malformed = new StringContent("{\"name\": ", System.Text.Encoding.UTF8, "application/json");
        var badBody = await ProblemAsync(await http.PostAsync("/api/thing", malformed), HttpStatusCode.BadRequest);
        Assert.Contains("Thing thing", badBody.Detail, StringComparison.Ordinal);

        var broken = await ProblemAsync(await http.GetAsync("/api/broken"), HttpStatusCode.InternalServerError);
        Assert.DoesNotContain("secret internals", broken.Detail, StringComparison.Ordinal);
        Assert.Contains("trace id", broken.Detail, StringComparison.Ordinal);

        var notAllowed = await ProblemAsync(await http.PutAsync("/api/thing", null), HttpStatusCode.MethodNotAllowed);
        Assert.Contains("PUT", notAllowed.Detail, StringComparison.Ordinal);
    }

    private static async Task<WebApplication> StartAsync(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddFleetSecurity();
        builder.Services.AddApiProblemDetails();
        var app = builder.Build();
        app.UseApiProblemDetails();
        app.UseOperatorAuthorization();
        app.MapGet("/healthz", () => Results.Ok()).AllowAnonymous();
        app.MapGet("/page", () => Results.Ok());
        var api = app.MapGroup("/api");
        api.MapGet("/thing", () => Results.Ok(new { ok = true }));
        api.MapPost("/thing", (Thing thing) => Results.Ok(thing));
        api.MapDelete("/thing", () => Results.NoContent());
        api.MapGet("/read-only-policy", () => Results.Ok()).RequireAuthorization(ApiPolicies.Read);
        api.MapGet("/operator-policy", () => Results.Ok()).RequireAuthorization(ApiPolicies.Operate);
        api.MapGet("/conflict", () => { throw new ModelRegistryException(RegistryErrorKind.Conflict, "Version 3 is held by rollout ro-1."); });
        api.MapGet("/broken", () => { throw new InvalidOperationException("secret internals"); });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private sealed record ProblemBody(string? Title, string? Detail, int? Status);

    private sealed record Thing(string Name, int Count);
}
