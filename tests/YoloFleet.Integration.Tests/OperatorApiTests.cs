using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud.Apis;
using YoloFleet.Cloud.Security;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// A whole silo (real PostgreSQL, embedded broker, Orleans) with an operator key and a read-only key: what each key
/// may do, problem responses, pagination over seeded rows, and the OpenAPI document against the routes really mapped.
/// </summary>
public sealed class OperatorApiFleet : IAsyncLifetime
{
    public static readonly (string Key, string Hash) Operator = ApiKeys.Mint();
    public static readonly (string Key, string Hash) Reader = ApiKeys.Mint();

    public PostgresDatabase Database { get; } = new();

    public LocalFleet Fleet { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        Fleet = await LocalFleet.StartCloudAsync(Database.ConnectionString, CancellationToken.None, extraSettings:
        [
            new("Cloud:Api:KeyHashes:0", Operator.Hash),
            new("Cloud:Api:ReaderKeyHashes:0", Reader.Hash),
        ]);
    }

    public async Task DisposeAsync()
    {
        await Fleet.DisposeAsync();
        await Database.DisposeAsync();
    }

    public HttpClient Client(string? key)
    {
        var http = new HttpClient { BaseAddress = new Uri(Fleet.HttpAddress), Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(Database.ConnectionString);
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class OperatorApiTests(OperatorApiFleet fixture) : IClassFixture<OperatorApiFleet>
{
    [Fact]
    [Trait("Category", "Security")]
    public async Task Without_a_key_or_with_a_wrong_one_the_api_answers_401_and_a_read_only_key_cannot_change_state()
    {
        var counters = fixture.Fleet.CloudServices.GetRequiredService<SecurityCounters>();
        var (missingBefore, wrongBefore, readOnlyBefore) = (
            counters.RefusedCount(RefusalReasons.ApiMissingKey), counters.RefusedCount(RefusalReasons.ApiWrongKey), counters.RefusedCount(RefusalReasons.ApiReadOnlyKey));
        using var anonymous = fixture.Client(null);
        using var wrong = fixture.Client(OperatorApiFleet.Operator.Key + "x");
        using var reader = fixture.Client(OperatorApiFleet.Reader.Key);
        using var operatorClient = fixture.Client(OperatorApiFleet.Operator.Key);
        var device = "api-auth-" + Guid.NewGuid().ToString("N")[..6];

        foreach (var (client, reason) in new[] { (anonymous, "An API key is required"), (wrong, "not recognised") })
        {
            var get = await client.GetAsync("/api/devices");
            var problem = await ProblemAsync(get, HttpStatusCode.Unauthorized);
            Assert.Contains(reason, problem.Detail, StringComparison.Ordinal);
            Assert.Contains("Bearer", get.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            await ProblemAsync(await client.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest(device, null, null)), HttpStatusCode.Unauthorized);
        }

        // Read-only: every GET, no change (register, upload, quantize, assign, rollout commands).
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/devices")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/ingest/stats")).StatusCode);
        var refused = await ProblemAsync(await reader.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest(device, null, null)), HttpStatusCode.Forbidden);
        Assert.Contains("read-only", refused.Detail, StringComparison.Ordinal);
        await ProblemAsync(await reader.PostAsJsonAsync("/api/assignments", new { model = "m", devices = new[] { device } }), HttpStatusCode.Forbidden);
        await ProblemAsync(await reader.PostAsync("/api/models/m/1/quantize", null), HttpStatusCode.Forbidden);
        await ProblemAsync(await reader.PostAsJsonAsync("/api/rollouts", new { model = "m" }), HttpStatusCode.Forbidden);
        await ProblemAsync(await reader.PostAsync($"/api/rollouts/ro-{new string('a', 32)}/abort", null), HttpStatusCode.Forbidden);
        Assert.Empty(await fixture.Database.QueryAsync($"SELECT 1 FROM devices WHERE device_id = '{device}'", r => r.GetInt32(0)));

        // Operator: the same change goes through.
        Assert.Equal(HttpStatusCode.Created, (await operatorClient.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest(device, "gate", null))).StatusCode);
        Assert.Single(await fixture.Database.QueryAsync($"SELECT 1 FROM devices WHERE device_id = '{device}'", r => r.GetInt32(0)));

        Assert.Equal(2, counters.RefusedCount(RefusalReasons.ApiMissingKey) - missingBefore);
        Assert.Equal(2, counters.RefusedCount(RefusalReasons.ApiWrongKey) - wrongBefore);
        Assert.Equal(5, counters.RefusedCount(RefusalReasons.ApiReadOnlyKey) - readOnlyBefore);
        var stats = await reader.GetFromJsonAsync<JsonElement>("/api/security/stats");
        Assert.True(stats.GetProperty("refusedByReason").GetProperty(RefusalReasons.ApiReadOnlyKey).GetInt64() >= 5);

        // /healthz stays open for load balancers.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task Errors_are_problem_responses_that_say_what_was_wrong()
    {
        using var http = fixture.Client(OperatorApiFleet.Operator.Key);

        var badId = await ProblemAsync(await http.PostAsJsonAsync("/api/devices", new RegisterDeviceRequest("no spaces/allowed", null, null)), HttpStatusCode.BadRequest);
        Assert.Contains("'no spaces/allowed' is not a valid device id", badId.Detail, StringComparison.Ordinal);

        using var malformed = new StringContent("{\"deviceId\": ", System.Text.Encoding.UTF8, "application/json");
        var badBody = await ProblemAsync(await http.PostAsync("/api/devices", malformed), HttpStatusCode.BadRequest);
        Assert.Contains("RegisterDeviceRequest", badBody.Detail, StringComparison.Ordinal);

        var badLimit = await ProblemAsync(await http.GetAsync("/api/devices?limit=0"), HttpStatusCode.BadRequest);
        Assert.Contains("limit must be between 1 and 1000", badLimit.Detail, StringComparison.Ordinal);
        var notANumber = await ProblemAsync(await http.GetAsync("/api/devices?limit=many"), HttpStatusCode.BadRequest);
        Assert.Contains("limit", notANumber.Detail, StringComparison.Ordinal);
        var badCursor = await ProblemAsync(await http.GetAsync("/api/devices?cursor=not-a-cursor"), HttpStatusCode.BadRequest);
        Assert.Contains("cursor is not a cursor of this list", badCursor.Detail, StringComparison.Ordinal);

        // Another list's cursor is refused, not misread.
        var eventsCursor = Paging.Encode("model-events", ["1", "2"]);
        await ProblemAsync(await http.GetAsync("/api/devices?cursor=" + eventsCursor), HttpStatusCode.BadRequest);

        var badRange = await ProblemAsync(
            await http.GetAsync("/api/devices/cam-1/detections?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"), HttpStatusCode.BadRequest);
        Assert.Contains("must be before to", badRange.Detail, StringComparison.Ordinal);

        var noRoute = await ProblemAsync(await http.GetAsync("/api/no/such/route"), HttpStatusCode.NotFound);
        Assert.Contains("GET /api/no/such/route", noRoute.Detail, StringComparison.Ordinal);
        var noModel = await ProblemAsync(await http.GetAsync("/api/models/no-such-model/1"), HttpStatusCode.NotFound);
        Assert.Contains("no-such-model", noModel.Detail, StringComparison.Ordinal);
        var noRollout = await ProblemAsync(await http.GetAsync($"/api/rollouts/ro-{new string('b', 32)}"), HttpStatusCode.NotFound);
        Assert.False(string.IsNullOrWhiteSpace(noRollout.Detail));

        var noSuchMethod = await ProblemAsync(await http.DeleteAsync("/api/devices"), HttpStatusCode.MethodNotAllowed);
        Assert.Contains("DELETE", noSuchMethod.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Paging_walks_each_seeded_list_once_without_duplicates_or_gaps()
    {
        using var http = fixture.Client(OperatorApiFleet.Reader.Key);
        var prefix = "page-" + Guid.NewGuid().ToString("N")[..6];
        var devices = Enumerable.Range(0, 23).Select(i => $"{prefix}-{i:D2}").ToList();
        await fixture.ExecuteAsync(
            "INSERT INTO devices (device_id, display_name, status, registered_at) VALUES " +
            string.Join(", ", devices.Select(d => $"('{d}', '', 'active', now())")));

        // Devices: the whole registry (this class's database; its tests run one at a time) in the database's id order.
        var allDevices = await WalkAsync(http, "/api/devices", 4, d => d.GetProperty("deviceId").GetString()!);
        Assert.Equal(await fixture.Database.QueryAsync("SELECT device_id FROM devices ORDER BY device_id", r => r.GetString(0)), allDevices);
        Assert.Equal(devices, allDevices.Where(d => d.StartsWith(prefix, StringComparison.Ordinal)));

        // Detections: 9 frames of 3 boxes, newest first by (sequence, index); the time range keeps frames 3..6.
        var device = devices[0];
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        await fixture.ExecuteAsync(
            "INSERT INTO detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2) VALUES " +
            string.Join(", ", from s in Enumerable.Range(1, 9)
                              from i in Enumerable.Range(0, 3)
                              select $"('{device}', {s}, {i}, '{start.AddSeconds(s):O}', {i}, 0.5, 0, 0, 10, 10)"));
        var boxes = await WalkAsync(http, $"/api/devices/{device}/detections", 4, d => (d.GetProperty("sequence").GetInt64(), d.GetProperty("index").GetInt32()));
        Assert.Equal(
            from s in Enumerable.Range(1, 9).Reverse() from i in Enumerable.Range(0, 3).Reverse() select ((long)s, i),
            boxes);
        var ranged = await WalkAsync(
            http, $"/api/devices/{device}/detections?from={Uri.EscapeDataString(start.AddSeconds(3).ToString("O"))}&to={Uri.EscapeDataString(start.AddSeconds(7).ToString("O"))}",
            5, d => d.GetProperty("sequence").GetInt64());
        Assert.Equal([6, 6, 6, 5, 5, 5, 4, 4, 4, 3, 3, 3], ranged);

        // Model events: newest first by (received_at, sequence), with ties on received_at across page boundaries.
        await fixture.ExecuteAsync(
            "INSERT INTO model_events (device_id, sequence, assignment_id, stage, accepted, reason_code, error, sha256, active_sha256, candidate_sha256, cpu_features, sent_at, received_at) VALUES " +
            string.Join(", ", Enumerable.Range(1, 11).Select(s =>
                $"('{device}', {s}, 'as-1', 'activated', true, '', '', '', '', '', '', '{start:O}', '{start.AddSeconds(s / 3):O}')")));
        var events = await WalkAsync(http, $"/api/devices/{device}/model-events", 2, e => e.GetProperty("sequence").GetInt64());
        Assert.Equal(Enumerable.Range(1, 11).Select(s => (long)s).OrderByDescending(s => s / 3).ThenByDescending(s => s), events);

        // Models: by name, newest version first, each version once with its variants (version 2 has two).
        var models = new[] { prefix + "-a", prefix + "-b", prefix + "-c" };
        await fixture.ExecuteAsync(
            "INSERT INTO models (name, version, format, sha256, size_bytes, manifest, signing_key_id) VALUES " +
            string.Join(", ", from m in models
                              from v in Enumerable.Range(1, 4)
                              from f in v == 2 ? new[] { "fp32", "int8" } : ["fp32"]
                              select $"('{m}', {v}, '{f}', '{new string('0', 64)}', 1, '{{}}', 'k')"));
        var versions = await WalkAsync(http, "/api/models", 3, v => (v.GetProperty("name").GetString()!, v.GetProperty("version").GetInt32(), v.GetProperty("variants").GetArrayLength()));
        Assert.Equal(
            from m in models from v in Enumerable.Range(1, 4).Reverse() select (m, v, v == 2 ? 2 : 1),
            versions.Where(v => v.Item1.StartsWith(prefix, StringComparison.Ordinal)));
        var oneModel = await WalkAsync(http, $"/api/models/{models[1]}", 1, v => v.GetProperty("version").GetInt32());
        Assert.Equal([4, 3, 2, 1], oneModel);

        // Rollouts: newest first by (created_at, id), ties included.
        var rollouts = Enumerable.Range(0, 7).Select(i => (Id: $"ro-{prefix}-{i}", CreatedAt: start.AddMinutes(i / 2))).ToList();
        await fixture.ExecuteAsync(
            """
            INSERT INTO rollouts (id, model_name, candidate_version, baseline_version, target_kind, target_devices, stages, gates, state, stage_index,
                                  stage_started_at, previous_models, assignment_ids, reason, created_by, created_at, updated_at)
            VALUES
            """ + string.Join(", ", rollouts.Select(r =>
                $"('{r.Id}', 'm', 2, 1, 'fleet', '{{}}', '[]', '{{}}', 'aborted', 0, '{r.CreatedAt:O}', '{{}}', '{{}}', '', 'test', '{r.CreatedAt:O}', '{r.CreatedAt:O}')")));
        var listed = await WalkAsync(http, "/api/rollouts", 3, r => r.GetProperty("id").GetString()!);
        Assert.Equal(
            rollouts.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id, StringComparer.Ordinal).Select(r => r.Id),
            listed.Where(id => id.Contains(prefix, StringComparison.Ordinal)));
    }

    [Fact]
    [Trait("Category", "Security")]
    public async Task The_openapi_document_needs_a_key_and_lists_every_mapped_api_route_with_the_bearer_scheme()
    {
        using var anonymous = fixture.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/openapi/v1.json")).StatusCode);

        using var reader = fixture.Client(OperatorApiFleet.Reader.Key);
        var document = await reader.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = document.GetProperty("paths");
        Assert.Equal("bearer", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey").GetProperty("scheme").GetString());

        var documented = paths.EnumerateObject().ToDictionary(p => p.Name.TrimEnd('/'), p => p.Value, StringComparer.Ordinal);
        var routes = fixture.Fleet.CloudServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api", StringComparison.OrdinalIgnoreCase) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(method => (Path: OpenApiDocument.StripConstraints(e.RoutePattern.RawText!.TrimEnd('/')), Method: method.ToLowerInvariant())))
            .ToList();
        Assert.True(routes.Count >= 30, $"only {routes.Count} /api routes were found");
        var missing = new List<string>();
        var undescribed = new List<string>();
        foreach (var (path, method) in routes)
        {
            var route = $"{method.ToUpperInvariant()} {path}";
            if (!documented.TryGetValue(path, out var item) || !item.TryGetProperty(method, out var operation))
            {
                missing.Add(route);
                continue;
            }

            // Names and summaries: .WithName("...").WithSummary("...") where the endpoint is mapped.
            if (!operation.TryGetProperty("summary", out _) || !operation.TryGetProperty("operationId", out _))
            {
                undescribed.Add(route);
            }

            Assert.True(operation.TryGetProperty("security", out _) != path.StartsWith("/api/artifacts", StringComparison.Ordinal), $"{route}: security scheme");
        }

        Assert.True(missing.Count == 0, "not in the OpenAPI document: " + string.Join(", ", missing));
        Assert.True(undescribed.Count == 0, "no name or summary: " + string.Join(", ", undescribed));
    }

    [Fact]
    public async Task The_cli_lists_and_shows_devices_and_models_as_tables_or_json_and_exits_with_codes_a_script_can_trust()
    {
        var prefix = "cli-" + Guid.NewGuid().ToString("N")[..6];
        var devices = Enumerable.Range(0, 3).Select(i => $"{prefix}-{i}").ToList();
        await fixture.ExecuteAsync(
            "INSERT INTO devices (device_id, display_name, status, registered_at, device_group) VALUES " +
            string.Join(", ", devices.Select(d => $"('{d}', 'Gate {d}', 'active', now(), 'yard')")));
        var model = prefix + "-model";
        await fixture.ExecuteAsync(
            "INSERT INTO models (name, version, format, sha256, size_bytes, manifest, signing_key_id) VALUES " +
            $"('{model}', 1, 'fp32', '{new string('1', 64)}', 100, '{{}}', 'key-1'), ('{model}', 2, 'fp32', '{new string('2', 64)}', 200, '{{}}', 'key-1')");
        var reader = OperatorApiFleet.Reader.Key;

        // Tables by default, with a count; `devices` alone lists too; every page is read (more than one here: 500 a page).
        var (code, output, error) = await RunCliAsync(reader, "devices", "list");
        Assert.True(code == 0, $"devices list exited {code}: {error}");
        Assert.Contains("device", output.Split('\n')[0], StringComparison.Ordinal);
        Assert.All(devices, d => Assert.Contains($"{d} ", output, StringComparison.Ordinal));
        Assert.Contains("yard", output, StringComparison.Ordinal);
        (code, var alone, _) = await RunCliAsync(reader, "devices");
        Assert.Equal((0, output), (code, alone));

        (code, output, error) = await RunCliAsync(reader, "devices", "list", "--json");
        Assert.True(code == 0, $"devices list --json exited {code}: {error}");
        var listed = JsonDocument.Parse(output).RootElement.EnumerateArray().Select(d => d.GetProperty("deviceId").GetString()).ToList();
        Assert.Equal(devices, listed.Where(d => d!.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.Equal(listed.Distinct().Count(), listed.Count);

        (code, output, error) = await RunCliAsync(reader, "devices", "show", devices[1]);
        Assert.True(code == 0, $"devices show exited {code}: {error}");
        Assert.Contains($"device:            {devices[1]}", output, StringComparison.Ordinal);
        Assert.Contains("last seen:         never", output, StringComparison.Ordinal);
        (code, output, _) = await RunCliAsync(reader, "devices", "show", devices[1], "--json");
        Assert.Equal(0, code);
        var shown = JsonDocument.Parse(output).RootElement;
        Assert.Equal(devices[1], shown.GetProperty("device").GetProperty("deviceId").GetString());
        Assert.Equal(devices[1], shown.GetProperty("twin").GetProperty("deviceId").GetString());

        (code, output, error) = await RunCliAsync(reader, "models", "list", "--name", model);
        Assert.True(code == 0, $"models list exited {code}: {error}");
        Assert.Contains("2 version(s)", output, StringComparison.Ordinal);
        (code, output, _) = await RunCliAsync(reader, "models", "--json");
        Assert.Equal(0, code);
        Assert.Equal([2, 1], JsonDocument.Parse(output).RootElement.EnumerateArray()
            .Where(v => v.GetProperty("name").GetString() == model).Select(v => v.GetProperty("version").GetInt32()));

        (code, output, error) = await RunCliAsync(reader, "models", "show", model + "@1", "--json");
        Assert.True(code == 0, $"models show exited {code}: {error}");
        Assert.Equal((1, new string('1', 64)), (JsonDocument.Parse(output).RootElement.GetProperty("version").GetInt32(),
            JsonDocument.Parse(output).RootElement.GetProperty("variants")[0].GetProperty("sha256").GetString()));
        (code, output, _) = await RunCliAsync(reader, "models", "show", model);
        Assert.Equal(0, code);
        Assert.Contains($"{model}", output, StringComparison.Ordinal);
        Assert.Contains(new string('2', 12), output, StringComparison.Ordinal);

        // Exit codes: 1 the command line does not parse, 2 invalid, 3 not found, 4 no/wrong key or role, 5 unreachable.
        (code, _, _) = await RunCliAsync(reader, "devices", "show");
        Assert.Equal(1, code);
        (code, _, error) = await RunCliAsync(reader, "models", "show", model + "@one");
        Assert.Equal(2, code);
        Assert.Contains("must be a number", error, StringComparison.Ordinal);
        (code, _, error) = await RunCliAsync(reader, "devices", "show", "not/a-device");
        Assert.Equal(2, code);
        (code, _, error) = await RunCliAsync(reader, "models", "show", prefix + "-missing");
        Assert.Equal(3, code);
        Assert.Contains("no model named", error, StringComparison.Ordinal);
        (code, _, error) = await RunCliAsync(reader, "models", "show", model + "@9");
        Assert.Equal(3, code);
        (code, _, error) = await RunCliAsync(OperatorApiFleet.Reader.Key + "x", "devices", "list");
        Assert.Equal(4, code);
        Assert.Contains("not recognised", error, StringComparison.Ordinal);
        (code, _, error) = await RunCliAsync(reader, "models", "quantize", model, "1");
        Assert.Equal(4, code);
        Assert.Contains("read-only", error, StringComparison.Ordinal);
        (code, _, error) = await RunCliAsync(reader, "devices", "list", "--url", "http://127.0.0.1:1");
        Assert.Equal(5, code);
        Assert.Contains("cannot reach the silo", error, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Output, string Error)> RunCliAsync(string apiKey, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "yolofleet.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // The URL and key come from the environment, as an operator's shell sets them; --url on the line wins.
        start.Environment["YOLOFLEET_URL"] = fixture.Fleet.HttpAddress;
        start.Environment["YOLOFLEET_API_KEY"] = apiKey;
        using var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("could not start yolofleet");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static async Task<List<T>> WalkAsync<T>(HttpClient http, string path, int limit, Func<JsonElement, T> read)
    {
        var items = new List<T>();
        string? cursor = null;
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        for (var pages = 0; pages < 1000; pages++)
        {
            var page = await http.GetFromJsonAsync<JsonElement>($"{path}{separator}limit={limit}{(cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))}");
            var pageItems = page.GetProperty("items").EnumerateArray().ToList();
            Assert.InRange(pageItems.Count, 0, limit);
            items.AddRange(pageItems.Select(read));
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.String ? page.GetProperty("nextCursor").GetString() : null;
            if (cursor is null)
            {
                return items;
            }
        }

        throw new InvalidOperationException($"{path} did not end within 1000 pages");
    }

    private static async Task<ProblemBody> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonSerializer.Deserialize<ProblemBody>(body, JsonSerializerOptions.Web)!;
            Assert.Equal((int)status, problem.Status);
            Assert.False(string.IsNullOrWhiteSpace(problem.Title), body);
            Assert.False(string.IsNullOrWhiteSpace(problem.Detail), body);
            return problem;
        }
    }

    private sealed record ProblemBody(string? Title, string? Detail, int? Status);
}
