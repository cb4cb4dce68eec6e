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
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Tests;

/// <summary>
/// Operator API keys on a real Kestrel listener on loopback, wired as the silo wires them (AddFleetSecurity,
/// UseOperatorApiKeys before the endpoints). The full silo is covered by the integration tests (SecurityEndToEndTests).
/// </summary>
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
        header.Headers.Add(ApiKeyMiddleware.HeaderName, otherKey);
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

    private static async Task<WebApplication> StartAsync(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddFleetSecurity();
        var app = builder.Build();
        app.UseOperatorApiKeys();
        app.MapGet("/healthz", () => Results.Ok());
        app.MapGroup("/api").MapGet("/thing", () => Results.Ok(new { ok = true }));
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
}
