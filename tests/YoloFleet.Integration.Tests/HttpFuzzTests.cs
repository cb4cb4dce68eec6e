using System.Net;
using System.Net.Http.Headers;
using System.Text;
using CsCheck;
using YoloFleet.Integration.Tests.Infrastructure;
using YoloFleet.Testing;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// Property-based fuzzing of the operator API on a whole silo, with the operator key (the most a caller can reach):
/// damaged and random JSON bodies on every kind of change, and generated path segments and query values on the reads.
/// Every answer is a 2xx or a problem response below 500; nothing registered before is lost; the silo still serves.
/// </summary>
[Trait("Category", "Security")]
public sealed class HttpFuzzTests(OperatorApiFleet fixture) : IClassFixture<OperatorApiFleet>
{
    private const int PerRoute = 250;

    /// <summary>Values that have broken parsers and SQL elsewhere, mixed into generated strings.</summary>
    private static readonly Gen<string> Nasty = Gen.OneOf(
        Gen.String,
        Gen.Const("' OR 1=1 --"),
        Gen.Const("\"; DROP TABLE devices; --"),
        Gen.Const("../../../../etc/passwd"),
        Gen.Const("%00"),
        Gen.Const("9999999999999999999999"),
        Gen.Const("-1"),
        Gen.Const("NaN"),
        Gen.Const("2026-13-45T99:99:99Z"),
        Gen.Const(new string('a', 5000)));

    public static TheoryData<string, string> Changes => new()
    {
        { "/api/devices", """{"deviceId":"fuzz-seed","displayName":"seed","group":"g"}""" },
        { "/api/assignments", """{"model":"m","version":1,"devices":["fuzz-seed"],"slot":"shadow","maxLatencyMs":50}""" },
        { "/api/rollouts", """{"model":"m","candidateVersion":2,"devices":["fuzz-seed"],"stages":[{"percent":5,"minSoak":"00:01:00"}]}""" },
        { "/api/rollouts/ro-00000000000000000000000000000000/pause", """{"reason":"fuzz"}""" },
        { "/api/models/m/1/quantize", """{"calibrationFrames":8}""" },
        { "/api/models", """{"name":"m"}""" },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task Damaged_bodies_on_a_change_get_a_problem_response_never_a_server_error(string route, string seed)
    {
        using var http = fixture.Client(OperatorApiFleet.Operator.Key);
        var kept = await RegisterAsync(http);
        var statuses = new Dictionary<HttpStatusCode, int>();
        await FuzzInputs.NoiseOrDamaged(Encoding.UTF8.GetBytes(seed)).SampleAsync(
            async body =>
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await http.PostAsync(route, content);
                await AssertAnsweredAsync(response, $"POST {route}");
                statuses[response.StatusCode] = statuses.GetValueOrDefault(response.StatusCode) + 1;
            },
            iter: PerRoute,
            threads: 1);

        Assert.Contains(statuses.Keys, s => (int)s is >= 400 and < 500);
        await AssertStillServingAsync(http, kept);
    }

    [Fact]
    public async Task Generated_path_segments_and_query_values_on_the_reads_get_an_answer_never_a_server_error()
    {
        using var http = fixture.Client(OperatorApiFleet.Operator.Key);
        var kept = await RegisterAsync(http);
        string[] templates =
        [
            "/api/devices?limit={0}&cursor={1}",
            "/api/devices/{0}",
            "/api/devices/{0}/detections?from={1}&to={1}&limit={0}",
            "/api/devices/{0}/model-events?cursor={1}",
            "/api/models/{0}?limit={1}",
            "/api/models/{0}/{1}",
            "/api/rollouts/{0}",
            "/api/rollouts?cursor={0}",
            "/api/jobs/{0}",
            "/api/analytics/detections?bucket={0}&from={1}&device={0}&class={1}",
            "/api/analytics/latency?by={0}&to={1}",
            "/api/analytics/agreement?bucket={1}&from={0}",
            "/api/analytics/hard-frames?bucket={0}&to={1}",
            "/api/analytics/top-devices?by={0}&limit={1}",
            "/api/scene/zones/hourly?device={0}&from={1}",
        ];
        var answered = 0;
        await Gen.Select(Gen.Int[0, templates.Length - 1], Nasty, Nasty).SampleAsync(
            async (template, a, b) =>
            {
                var path = string.Format(System.Globalization.CultureInfo.InvariantCulture, templates[template], Uri.EscapeDataString(a), Uri.EscapeDataString(b));
                using var response = await http.GetAsync(path);
                await AssertAnsweredAsync(response, "GET " + path);
                answered++;
            },
            iter: PerRoute * 4,
            threads: 1);

        Assert.Equal(PerRoute * 4, answered);
        await AssertStillServingAsync(http, kept);
    }

    private static async Task<string> RegisterAsync(HttpClient http)
    {
        var device = "fuzz-kept-" + Guid.NewGuid().ToString("N")[..6];
        using var body = new StringContent($$"""{"deviceId":"{{device}}"}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsync("/api/devices", body)).StatusCode);
        return device;
    }

    private static async Task AssertAnsweredAsync(HttpResponseMessage response, string request)
    {
        var code = (int)response.StatusCode;
        Assert.True(code < 500, $"{request} answered {code}: {await response.Content.ReadAsStringAsync()}");
        // Kestrel itself answers a request line or headers over its limits (414, 431) before any of the app runs.
        if (code >= 400 && response.StatusCode is not (HttpStatusCode.RequestUriTooLong or HttpStatusCode.RequestHeaderFieldsTooLarge))
        {
            Assert.True(
                response.Content.Headers.ContentType?.MediaType == "application/problem+json",
                $"{request} answered {code} as {response.Content.Headers.ContentType}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task AssertStillServingAsync(HttpClient http, string kept)
    {
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/devices/{kept}")).StatusCode);
    }
}
