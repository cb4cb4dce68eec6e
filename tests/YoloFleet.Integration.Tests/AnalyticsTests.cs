using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using YoloFleet.Cli;
using YoloFleet.Cloud.Net;
using YoloFleet.Cloud.Security;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// GET /api/analytics/* over a small known fleet in the real PostgreSQL behind a real silo: every number is checked
/// against one computed here from the seeded rows (LINQ and a percentile of our own, not the API's SQL); bad parameters
/// are 400 problems naming the parameter; `yolofleet query` prints the same rows; the bench runs end to end.
/// </summary>
[Trait("Category", "Analytics")]
public sealed class AnalyticsTests : IClassFixture<AnalyticsTests.Fleet>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 2, 10, 0, 0, TimeSpan.Zero);
    private static readonly string From = Iso(T0);
    private static readonly string To = Iso(T0.AddHours(4));
    private const string ShaM1 = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    private readonly Fleet _fleet;

    public AnalyticsTests(Fleet fleet) => _fleet = fleet;

    [Fact]
    public async Task Detections_are_counted_per_hour_device_and_class_and_filter_by_device_and_class()
    {
        var rows = await _fleet.GetRowsAsync($"api/analytics/detections?bucket=hour&from={From}&to={To}");
        var expected = _fleet.Frames
            .SelectMany(f => f.Classes.Select(c => (Bucket: Hour(f.At), f.Device, Class: (int)c)))
            .GroupBy(x => x).Select(g => (g.Key.Bucket, g.Key.Device, g.Key.Class, (long)g.Count())).Order().ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, rows.Select(r => (r.GetProperty("bucket").GetDateTimeOffset(), r.GetProperty("deviceId").GetString()!,
            r.GetProperty("classId").GetInt32(), r.GetProperty("count").GetInt64())).Order().ToList());
        Assert.Contains(rows, r => r.GetProperty("classId").GetInt32() == 16 && r.GetProperty("className").GetString() == "dog");

        // One device, one class by name, by day: one row per day with that device's boxes of that class.
        var person = await _fleet.GetRowsAsync($"api/analytics/detections?bucket=day&from={From}&to={To}&device=an-a&class=person");
        var row = Assert.Single(person);
        Assert.Equal(_fleet.Frames.Where(f => f.Device == "an-a").Sum(f => f.Classes.Count(c => c == 0)), row.GetProperty("count").GetInt64());
        Assert.Equal(("an-a", "person", T0.Date), (row.GetProperty("deviceId").GetString(), row.GetProperty("className").GetString(), row.GetProperty("bucket").GetDateTimeOffset().Date));

        // The range is half-open and defaults to the last 24 hours, which hold none of these rows.
        Assert.Empty(await _fleet.GetRowsAsync("api/analytics/detections"));
        var firstHour = await _fleet.GetRowsAsync($"api/analytics/detections?bucket=minute&from={From}&to={Iso(T0.AddHours(1))}");
        Assert.Equal(_fleet.Frames.Where(f => f.At < T0.AddHours(1)).Sum(f => f.Classes.Length), firstHour.Sum(r => r.GetProperty("count").GetInt64()));
    }

    [Fact]
    public async Task Latency_percentiles_per_device_and_per_model_match_an_independent_computation()
    {
        var byDevice = await _fleet.GetRowsAsync($"api/analytics/latency?by=device&from={From}&to={To}");
        var byModel = await _fleet.GetRowsAsync($"api/analytics/latency?by=model&from={From}&to={To}");
        AssertLatency(_fleet.Frames.GroupBy(f => f.Device), byDevice);
        AssertLatency(_fleet.Frames.GroupBy(f => f.Sha.Length == 0 ? f.Model : f.Model + " " + f.Sha[..12]), byModel);
        Assert.Equal(["m1@3 abcdef012345", "m2@1"], byModel.Select(r => r.GetProperty("key").GetString()));

        // The default grouping is by device.
        Assert.Equal(byDevice.Count, (await _fleet.GetRowsAsync($"api/analytics/latency?from={From}&to={To}")).Count);

        static void AssertLatency(IEnumerable<IGrouping<string, SeededFrame>> groups, List<JsonElement> rows)
        {
            var expected = groups.OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
            Assert.Equal(expected.Select(g => g.Key), rows.Select(r => r.GetProperty("key").GetString()));
            foreach (var (group, row) in expected.Zip(rows))
            {
                var sorted = group.Select(f => (double)f.Ms).Order().ToArray();
                Assert.Equal(sorted.Length, row.GetProperty("samples").GetInt64());
                Assert.Equal(Percentile(sorted, 0.50), row.GetProperty("p50Ms").GetDouble(), 3);
                Assert.Equal(Percentile(sorted, 0.95), row.GetProperty("p95Ms").GetDouble(), 3);
                Assert.Equal(Percentile(sorted, 0.99), row.GetProperty("p99Ms").GetDouble(), 3);
            }
        }
    }

    [Fact]
    public async Task Agreement_pools_the_edge_verdicts_per_model_and_hour_and_ignores_shadow_verdicts()
    {
        var rows = await _fleet.GetRowsAsync($"api/analytics/agreement?bucket=hour&from={From}&to={To}");
        var expected = _fleet.Verdicts.GroupBy(v => (Hour(v.Frame.At), v.Frame.Model)).OrderBy(g => g.Key.Item1).ThenBy(g => g.Key.Model, StringComparer.Ordinal).ToList();
        Assert.True(expected.Count >= 2, "the seed has verdicts in more than one hour or model");
        Assert.Equal(expected.Count, rows.Count);
        foreach (var (group, row) in expected.Zip(rows))
        {
            Assert.Equal((group.Key.Item1, group.Key.Model, (long)group.Count()),
                (row.GetProperty("bucket").GetDateTimeOffset(), row.GetProperty("model").GetString(), row.GetProperty("frames").GetInt64()));
            var (matched, edge, reference) = (group.Sum(v => v.Matched), group.Sum(v => v.Edge), group.Sum(v => v.Reference));
            Assert.Equal(edge == 0 ? 1 : (double)matched / edge, row.GetProperty("precision").GetDouble(), 9);
            Assert.Equal(reference == 0 ? 1 : (double)matched / reference, row.GetProperty("recall").GetDouble(), 9);
        }
    }

    [Fact]
    public async Task Hard_frame_rate_is_hard_frames_over_frames_per_device_and_hour()
    {
        var rows = await _fleet.GetRowsAsync($"api/analytics/hard-frames?bucket=hour&from={From}&to={To}");
        var expected = _fleet.Frames.GroupBy(f => (Bucket: Hour(f.At), f.Device))
            .Select(g => (g.Key.Bucket, g.Key.Device, Frames: (long)g.Count(), Hard: (long)g.Count(f => f.Hard))).Order().ToList();
        Assert.Contains(expected, e => e.Hard > 0);
        Assert.Equal(expected, rows.Select(r => (r.GetProperty("bucket").GetDateTimeOffset(), r.GetProperty("deviceId").GetString()!,
            r.GetProperty("frames").GetInt64(), r.GetProperty("hardFrames").GetInt64())).Order().ToList());
        Assert.All(rows, r => Assert.Equal((double)r.GetProperty("hardFrames").GetInt64() / r.GetProperty("frames").GetInt64(), r.GetProperty("rate").GetDouble(), 9));
    }

    [Fact]
    public async Task Fleet_health_shows_each_active_device_from_its_newest_telemetry()
    {
        // A fresh report just now, so that an-a is online whenever this test runs.
        var reported = await _fleet.ReportAsync("an-a", 4, throttled: true, backlog: 42, "m1@3");
        var rows = (await _fleet.GetRowsAsync("api/analytics/fleet-health")).ToDictionary(r => r.GetProperty("deviceId").GetString()!);
        Assert.Equal(["an-a", "an-b", "an-c"], rows.Keys.Order(StringComparer.Ordinal));

        // an-a: its newest report by arrival (not its highest sequence) says throttled, 42 waiting, m1@3.
        var a = rows["an-a"];
        Assert.Equal((true, true, 42L, "m1@3"),
            (a.GetProperty("online").GetBoolean(), a.GetProperty("throttled").GetBoolean(), a.GetProperty("outboxBacklog").GetInt64(), a.GetProperty("model").GetString()));
        Assert.Equal(reported, a.GetProperty("lastSeen").GetDateTimeOffset());

        var b = rows["an-b"];
        Assert.Equal((false, false, 7L), (b.GetProperty("online").GetBoolean(), b.GetProperty("throttled").GetBoolean(), b.GetProperty("outboxBacklog").GetInt64()));
        var c = rows["an-c"];
        Assert.Equal((false, JsonValueKind.Null, ""), (c.GetProperty("online").GetBoolean(), c.GetProperty("lastSeen").ValueKind, c.GetProperty("model").GetString()));
    }

    [Fact]
    public async Task Top_devices_rank_by_each_figure_highest_first_within_the_limit()
    {
        async Task<List<(string Device, double Value)>> TopAsync(string by, int limit) =>
            [.. (await _fleet.GetRowsAsync($"api/analytics/top-devices?by={by}&limit={limit}&from={From}&to={To}"))
                .Select(r => (r.GetProperty("deviceId").GetString()!, r.GetProperty("value").GetDouble()))];

        static List<(string Device, double Value)> Ranked(IEnumerable<(string Device, double Value)> values, int limit) =>
            [.. values.OrderByDescending(v => v.Value).ThenBy(v => v.Device, StringComparer.Ordinal).Take(limit)];

        var byDevice = _fleet.Frames.GroupBy(f => f.Device).ToList();
        Assert.Equal(Ranked(byDevice.Select(g => (g.Key, (double)g.Sum(f => f.Classes.Length))), 2), await TopAsync("detections", 2));
        Assert.Equal(Ranked(byDevice.Select(g => (g.Key, (double)g.Count(f => f.Hard) / g.Count())), 3), await TopAsync("hardFrameRate", 3));
        var p95 = Ranked(byDevice.Select(g => (g.Key, Percentile([.. g.Select(f => (double)f.Ms).Order()], 0.95))), 3);
        Assert.Equal(p95.Select(p => p.Device), (await TopAsync("latencyP95", 3)).Select(p => p.Device));
        Assert.Equal(p95[0].Value, (await TopAsync("latencyP95", 1))[0].Value, 3);
        var disagreement = Ranked(_fleet.Verdicts.GroupBy(v => v.Frame.Device)
            .Select(g => (g.Key, 1 - (2.0 * g.Sum(v => v.Matched) / (g.Sum(v => v.Edge) + g.Sum(v => v.Reference))))), 3);
        var actual = await TopAsync("disagreement", 3);
        Assert.Equal(disagreement.Select(d => d.Device), actual.Select(d => d.Device));
        Assert.All(disagreement.Zip(actual), pair => Assert.Equal(pair.First.Value, pair.Second.Value, 9));
        Assert.Equal([("an-a", 42.0), ("an-b", 7.0)], await TopAsync("backlog", 10));
    }

    [Theory]
    [InlineData("detections?bucket=week", "bucket")]
    [InlineData("detections?from=yesterday", "from")]
    [InlineData("detections?from=2026-11-02T10:00:00Z&to=2026-11-01T10:00:00Z", "from")]
    [InlineData("detections?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from")]
    [InlineData("detections?bucket=minute&from=2026-11-01T00:00:00Z&to=2026-11-05T00:00:00Z", "bucket")]
    [InlineData("detections?device=no%20such%20device!", "device")]
    [InlineData("detections?class=unicorn", "class")]
    [InlineData("latency?by=planet", "by")]
    [InlineData("agreement?to=soon", "to")]
    [InlineData("hard-frames?bucket=1", "bucket")]
    [InlineData("top-devices?limit=0", "limit")]
    [InlineData("top-devices?limit=101", "limit")]
    [InlineData("top-devices?by=charm", "by")]
    public async Task A_bad_parameter_is_a_400_problem_that_names_it(string query, string parameter)
    {
        using var response = await _fleet.Http.GetAsync("api/analytics/" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        var errors = problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).ToList();
        Assert.Equal([parameter], errors);
        Assert.Contains(parameter + ":", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_query_verb_prints_a_table_or_the_api_s_json_and_exits_non_zero_on_errors()
    {
        var (code, output, error) = await RunCliAsync("query", "hard-frames", "--from", From, "--to", To, "--url", _fleet.Address, "--api-key", _fleet.Key);
        Assert.True(code == 0, $"exit {code}: {error}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["bucket", "deviceId", "frames", "hardFrames", "rate"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var api = await _fleet.GetRowsAsync($"api/analytics/hard-frames?from={From}&to={To}");
        Assert.Equal($"{api.Count} row(s)", lines[^1]);
        Assert.Equal(api.Count + 2, lines.Length);

        (code, output, error) = await RunCliAsync("query", "top-devices", "--by", "backlog", "--json", "--url", _fleet.Address, "--api-key", _fleet.Key);
        Assert.True(code == 0, $"exit {code}: {error}");
        Assert.Equal("an-a", JsonDocument.Parse(output).RootElement[0].GetProperty("deviceId").GetString());

        (code, _, error) = await RunCliAsync("query", "top-devices", "--by", "charm", "--url", _fleet.Address, "--api-key", _fleet.Key);
        Assert.Equal(2, code);
        Assert.Contains("by: 'charm' is not one of", error, StringComparison.Ordinal);

        (code, _, error) = await RunCliAsync("query", "fleet-health", "--url", _fleet.Address, "--api-key", "wrong");
        Assert.Equal(4, code);
        Assert.Contains("not recognised", error, StringComparison.Ordinal);

        (code, _, error) = await RunCliAsync("query", "fleet-health", "--url", "http://127.0.0.1:" + LoopbackPorts.GetFree(), "--api-key", _fleet.Key);
        Assert.Equal(5, code);
        Assert.Contains("cannot reach the silo", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_cut_at_the_row_cap_says_so_in_a_header_and_the_query_verb_warns()
    {
        // A second silo over the same rows, its cap at 5: the hourly detections (more than 5 rows) are cut, latency per model (2) is not.
        await using var capped = await LocalFleet.StartCloudAsync(_fleet.ConnectionString, CancellationToken.None,
            extraSettings: [new("Cloud:Api:KeyHashes:0", _fleet.KeyHash), new("Cloud:Analytics:MaxRows", "5")]);
        using var http = new HttpClient { BaseAddress = new Uri(capped.HttpAddress), Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _fleet.Key);

        var all = await _fleet.GetRowsAsync($"api/analytics/detections?bucket=hour&from={From}&to={To}");
        Assert.True(all.Count > 5, $"the seed has more than 5 hourly detection rows ({all.Count})");
        using (var cut = await http.GetAsync($"api/analytics/detections?bucket=hour&from={From}&to={To}"))
        {
            Assert.Equal(HttpStatusCode.OK, cut.StatusCode);
            Assert.Equal(["true"], cut.Headers.GetValues("X-Result-Truncated"));
            var rows = JsonDocument.Parse(await cut.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(5, rows.GetArrayLength());

            // The first 5 rows of the full answer, in its order.
            Assert.Equal(all.Take(5).Select(r => r.GetRawText()), rows.EnumerateArray().Select(r => r.GetRawText()));
        }

        using (var whole = await http.GetAsync($"api/analytics/latency?by=model&from={From}&to={To}"))
        {
            Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
            Assert.False(whole.Headers.Contains("X-Result-Truncated"));
            Assert.Equal(2, JsonDocument.Parse(await whole.Content.ReadAsStringAsync()).RootElement.GetArrayLength());
        }

        // The verb warns on stderr (so --json stays one document) and still exits 0; an answer that fits has no warning.
        var (code, output, error) = await RunCliAsync("query", "detections", "--from", From, "--to", To, "--json", "--url", capped.HttpAddress, "--api-key", _fleet.Key);
        Assert.True(code == 0, $"exit {code}: {error}");
        Assert.Equal(5, JsonDocument.Parse(output).RootElement.GetArrayLength());
        Assert.Contains("warning: the silo cut the answer at its row cap (5 rows)", error, StringComparison.Ordinal);
        (code, output, error) = await RunCliAsync("query", "latency", "--by", "model", "--from", From, "--to", To, "--url", capped.HttpAddress, "--api-key", _fleet.Key);
        Assert.True(code == 0, $"exit {code}: {error}");
        Assert.EndsWith("2 row(s)", output.TrimEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain("warning", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bench_seeds_its_own_database_runs_every_query_and_prints_one_json_object()
    {
        var database = "yf_analytics_bench_" + Guid.NewGuid().ToString("N")[..8];
        var (code, output, error) = await RunCliAsync("analytics-bench", "--rows", "3000", "--json", "--database", database, "--connection", TestServices.PostgresServer);
        Assert.True(code == 0, $"exit {code}: {error}");
        var result = JsonDocument.Parse(output).RootElement;
        Assert.Equal(3000, result.GetProperty("seeded").GetProperty("detections").GetInt64());
        var queries = result.GetProperty("queries").EnumerateArray().ToList();
        Assert.Equal(14, queries.Count);
        Assert.All(queries, q => Assert.True(q.GetProperty("coldMs").GetDouble() > 0 && q.GetProperty("warmMs").GetDouble() > 0, q.GetRawText()));
        var detections = queries.First(q => q.GetProperty("name").GetString() == "detections");
        Assert.True(detections.GetProperty("rowsScanned").GetInt64() > 0 && detections.GetProperty("rowsReturned").GetInt64() > 0, detections.GetRawText());
        Assert.Contains("detections", detections.GetProperty("plan").GetString(), StringComparison.Ordinal);
        Assert.Contains("seeding", error, StringComparison.Ordinal);

        // It drops what it made.
        await using var dataSource = NpgsqlDataSource.Create(TestServices.PostgresServer);
        await using var exists = dataSource.CreateCommand("SELECT count(*) FROM pg_database WHERE datname = $1");
        exists.Parameters.AddWithValue(database);
        Assert.Equal(0L, (long)(await exists.ExecuteScalarAsync())!);
    }

    /// <summary>PostgreSQL's percentile_cont, written out: linear interpolation between the two nearest ranks.</summary>
    private static double Percentile(double[] sorted, double p)
    {
        var position = p * (sorted.Length - 1);
        var (low, high) = ((int)Math.Floor(position), (int)Math.Ceiling(position));
        return sorted[low] + ((sorted[high] - sorted[low]) * (position - low));
    }

    private static DateTimeOffset Hour(DateTimeOffset at) => new(at.Year, at.Month, at.Day, at.Hour, 0, 0, TimeSpan.Zero);

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static async Task<(int Code, string Output, string Error)> RunCliAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "yolofleet.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start yolofleet");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    public sealed record SeededFrame(string Device, long Sequence, DateTimeOffset At, float Ms, string Model, string Sha, short[] Classes, bool Hard);

    public sealed record SeededVerdict(SeededFrame Frame, int Edge, int Reference, int Matched);

    /// <summary>A migrated database with a small known fleet, and a silo with an operator key over it.</summary>
    public sealed class Fleet : IAsyncLifetime
    {
        private static readonly (string Key, string Hash) ApiKey = ApiKeys.Mint();
        private readonly PostgresDatabase _database = new();
        private LocalFleet? _cloud;

        public List<SeededFrame> Frames { get; } = [];

        public List<SeededVerdict> Verdicts { get; } = [];

        public HttpClient Http { get; private set; } = null!;

        public string Address => _cloud!.HttpAddress;

        public string Key => ApiKey.Key;

        public string KeyHash => ApiKey.Hash;

        public string ConnectionString => _database.ConnectionString;

        public async Task<List<JsonElement>> GetRowsAsync(string path)
        {
            using var response = await Http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
            return [.. JsonDocument.Parse(body).RootElement.EnumerateArray()];
        }

        public async Task InitializeAsync()
        {
            await _database.InitializeAsync();
            await SeedAsync();
            _cloud = await LocalFleet.StartCloudAsync(_database.ConnectionString, CancellationToken.None, extraSettings: [new("Cloud:Api:KeyHashes:0", ApiKey.Hash)]);
            Http = new HttpClient { BaseAddress = new Uri(_cloud.HttpAddress), Timeout = TimeSpan.FromMinutes(2) };
            Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey.Key);
        }

        public async Task DisposeAsync()
        {
            Http?.Dispose();
            if (_cloud is not null)
            {
                await _cloud.DisposeAsync();
            }

            await _database.DisposeAsync();
        }

        private async Task SeedAsync()
        {
            var random = new Random(15);
            short[] classes = [0, 2, 16];
            foreach (var (device, count) in new[] { ("an-a", 40), ("an-b", 25), ("an-c", 12) })
            {
                for (var sequence = 0; sequence < count; sequence++)
                {
                    // Spread over 10:00-12:30, so three hour buckets; an-c runs another model, without a SHA-256.
                    var at = T0.AddSeconds(random.Next(150 * 60)).AddMilliseconds(random.Next(1000));
                    var boxes = Enumerable.Range(0, random.Next(5)).Select(_ => classes[random.Next(classes.Length)]).ToArray();
                    var (model, sha) = device == "an-c" ? ("m2@1", "") : ("m1@3", ShaM1);
                    var ms = (float)Math.Round(10 + (random.NextDouble() * (device == "an-b" ? 90 : 40)), 2);
                    Frames.Add(new SeededFrame(device, sequence, at, ms, model, sha, boxes, Hard: random.Next(4) == 0));
                }
            }

            foreach (var frame in Frames.Where(f => f.Hard))
            {
                var reference = random.Next(4);
                var edge = random.Next(4);
                Verdicts.Add(new SeededVerdict(frame, edge, reference, Math.Min(edge, reference) - (random.Next(3) == 0 && Math.Min(edge, reference) > 0 ? 1 : 0)));
            }

            await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
            var now = DateTimeOffset.UtcNow;
            await ExecuteAsync(dataSource, """
                INSERT INTO devices (device_id, status, last_seen_at) VALUES
                    ('an-a', 'active', $1), ('an-b', 'active', $2), ('an-c', 'active', NULL), ('an-off', 'disabled', $1)
                """, now.AddMinutes(-10), now.AddHours(-2));
            // Captured in November, received now: the silo's retention ages rows by the time it received them.
            foreach (var f in Frames)
            {
                await ExecuteAsync(dataSource, """
                    INSERT INTO frames (device_id, sequence, captured_at, received_at, model_version, frame_width, frame_height, inference_ms, frame_ref, detection_count, model_sha256)
                    VALUES ($1, $2, $3, now(), $4, 640, 480, $5, 'test', $6, $7)
                    """, f.Device, f.Sequence, f.At, f.Model, f.Ms, f.Classes.Length, f.Sha);
                for (var i = 0; i < f.Classes.Length; i++)
                {
                    await ExecuteAsync(dataSource, """
                        INSERT INTO detections (device_id, sequence, idx, captured_at, class_id, score, x1, y1, x2, y2) VALUES ($1, $2, $3, $4, $5, 0.5, 0, 0, 10, 10)
                        """, f.Device, f.Sequence, (short)i, f.At, f.Classes[i]);
                }

                if (f.Hard)
                {
                    await ExecuteAsync(dataSource, """
                        INSERT INTO hard_frames (device_id, sequence, detections_sequence, captured_at, received_at, model_version, reason, jpeg, edge_detections, model_sha256)
                        VALUES ($1, $2, $2, $3, now(), $4, 'low-confidence', '\xffd8ffd9'::bytea, '[]'::jsonb, $5)
                        """, f.Device, f.Sequence, f.At, f.Model, f.Sha);
                }
            }

            foreach (var v in Verdicts)
            {
                foreach (var role in new[] { "edge", "shadow" })
                {
                    // A shadow verdict on the same frame, which the edge's agreement must not count, agrees perfectly.
                    var (edge, matched) = role == "edge" ? (v.Edge, v.Matched) : (v.Reference, v.Reference);
                    await ExecuteAsync(dataSource, """
                        INSERT INTO verifications (device_id, sequence, role, model_sha256, model_version, verifier_model, captured_at, verified_at, edge_boxes, reference_boxes,
                            matched, precision, recall, mean_iou, missed_classes, calibration_count, calibration_edge_sum, calibration_reference_sum, verify_ms)
                        VALUES ($1, $2, $3, $4, $5, 'fp32', $6, $6, $7, $8, $9, 0, 0, 0, '{}', '{}', '{}', '{}', 1)
                        """, v.Frame.Device, v.Frame.Sequence, role, v.Frame.Sha, v.Frame.Model, v.Frame.At, edge, v.Reference, matched);
                }
            }

            // an-a: a newer report with a lower sequence (its state was reset) beats an older one with a higher sequence.
            await InsertTelemetryAsync(dataSource, "an-a", 900, now.AddHours(-1), throttled: false, backlog: 999, "m1@2");
            await InsertTelemetryAsync(dataSource, "an-a", 3, now, throttled: true, backlog: 42, "m1@3");
            await InsertTelemetryAsync(dataSource, "an-b", 5, now.AddHours(-2), throttled: false, backlog: 7, "m1@3");
        }

        /// <summary>A telemetry report received now (to the microsecond PostgreSQL keeps); returns its time.</summary>
        public async Task<DateTimeOffset> ReportAsync(string device, long sequence, bool throttled, long backlog, string model)
        {
            var now = DateTimeOffset.UtcNow;
            now = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % 10), TimeSpan.Zero);
            await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
            await InsertTelemetryAsync(dataSource, device, sequence, now, throttled, backlog, model);
            return now;
        }

        private static Task InsertTelemetryAsync(NpgsqlDataSource dataSource, string device, long sequence, DateTimeOffset at, bool throttled, long backlog, string model) =>
            ExecuteAsync(dataSource, """
                INSERT INTO telemetry (device_id, sequence, sent_at, received_at, frames_per_second, cpu_percent, rss_mb, outbox_depth, outbox_evicted, frames_dropped,
                    source_failures, source_error, model_version, stages, throttled)
                VALUES ($1, $2, $3, $3, 10, 50, 100, $4, 0, 0, 0, '', $5, '[]'::jsonb, $6)
                """, device, sequence, at, backlog, model, throttled);

        private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql, params object[] values)
        {
            await using var command = dataSource.CreateCommand(sql);
            foreach (var value in values)
            {
                command.Parameters.Add(value is DateTimeOffset at
                    ? new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = at.UtcDateTime }
                    : new NpgsqlParameter { Value = value });
            }

            await command.ExecuteNonQueryAsync();
        }
    }
}
