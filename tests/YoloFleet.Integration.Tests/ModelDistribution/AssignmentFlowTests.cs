using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Web;
using Google.Protobuf;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Cloud.Registry.Signing;
using YoloFleet.Cloud.Security;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// Assignments end to end over a real broker and PostgreSQL, with a test MQTT client in the device's place: the retained
/// ModelAssigned with both signed variants, downloads with the device's token (and Range resume), the device's
/// "benchmarked" report leading to a recorded choice and a republished assignment, and the twin's drift as the device
/// reports what it runs.
/// </summary>
[Collection(ModelDistributionCollection.Name)]
[Trait("Category", "ModelDistribution")]
public sealed class AssignmentFlowTests(ModelDistributionFleet fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_assignment_reaches_the_device_retained_and_its_benchmarks_choose_int8_which_the_twin_then_tracks()
    {
        var device = "md-pi-" + Guid.NewGuid().ToString("N")[..6];
        await fixture.RegisterAsync(device);

        // Assigned before the device listens: the retained message waits at the broker.
        var assignment = await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, devices = new[] { device } }, HttpStatusCode.Created);
        var assignmentId = assignment.GetProperty("assignmentId").GetString()!;
        var assigned = assignment.GetProperty("devices").EnumerateArray().Single();
        Assert.Equal(JsonValueKind.Null, assigned.GetProperty("selectedSha256").ValueKind);
        Assert.True(assigned.GetProperty("published").GetBoolean());

        await using var client = new MqttTestClient(fixture.Fleet.BrokerHost, fixture.Fleet.BrokerPort);
        await client.ConnectAsync();
        await client.SubscribeAsync(Topics.ModelAssignment(device));
        var first = await WaitForAssignmentAsync(client, message => message.AssignmentId == assignmentId);
        Assert.Equal((assignmentId, $"{ModelDistributionFleet.ModelName}@{fixture.Version}", "active", ""), (first.AssignmentId, first.ModelVersion, first.Slot, first.SelectedSha256));

        // Both variants: signed manifests an agent pinning the cloud's key accepts, and URLs that serve exactly those files.
        using var trust = await TrustAsync();
        using var download = new HttpClient();
        var files = new Dictionary<string, byte[]>();
        foreach (var variant in first.Variants)
        {
            Assert.Null(trust.Verify(variant.ManifestJson.Span, out var manifest));
            var bytes = await download.GetByteArrayAsync(variant.DownloadUrl);
            Assert.Equal(manifest!.Model.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Equal(manifest.Model.SizeBytes, bytes.Length);
            files[manifest.Precision!] = bytes;
        }

        Assert.Equal(["fp32", "int8"], files.Keys.Order());
        var int8Url = first.Variants.Select(v => v.DownloadUrl).Single(url => url.Contains(fixture.Int8Sha256, StringComparison.Ordinal));
        await ResumeWithRangeAsync(download, int8Url, files["int8"]);
        await RefusedDownloadsAsync(download, int8Url, device);

        var waiting = await TwinAsync(device, twin => !twin.GetProperty("inSync").GetBoolean());
        Assert.StartsWith("any of", waiting.GetProperty("drift").GetProperty("wanted").GetString(), StringComparison.Ordinal);

        // The device downloads, verifies and benchmarks; INT8 measured faster there.
        await PublishAckAsync(client, device, 1, assignmentId, ModelAssignmentStages.Downloading);
        await PublishAckAsync(client, device, 2, assignmentId, ModelAssignmentStages.Verified, sha256: fixture.Int8Sha256);
        await PublishAckAsync(client, device, 3, assignmentId, ModelAssignmentStages.Benchmarked, benchmarks:
        [
            new VariantBenchmark { Sha256 = fixture.Fp32Sha256, Precision = "fp32", P50Ms = 30f, P95Ms = 33f, Runs = 20 },
            new VariantBenchmark { Sha256 = fixture.Int8Sha256, Precision = "int8", P50Ms = 20f, P95Ms = 22f, Runs = 20 },
        ]);

        var chosen = await WaitForAssignmentAsync(client, message => message.SelectedSha256.Length > 0);
        Assert.Equal((assignmentId, fixture.Int8Sha256), (chosen.AssignmentId, chosen.SelectedSha256));
        Assert.Equal(2, chosen.Variants.Count);
        var decisions = await fixture.QueryAsync(
            $"SELECT chosen_sha256, chosen_precision, basis, reason, fp32_p50_ms, int8_p50_ms, cpu_features FROM model_selections WHERE device_id = '{device}'",
            r => (Sha: r.GetString(0), Precision: r.GetString(1), Basis: r.GetString(2), Reason: r.GetString(3), Fp32: r.GetFloat(4), Int8: r.GetFloat(5), Cpu: r.GetString(6)));
        var decision = Assert.Single(decisions);
        Assert.Equal((fixture.Int8Sha256, "int8", "benchmarked", 30f, 20f, "avx2,avx512-vnni"), (decision.Sha, decision.Precision, decision.Basis, decision.Fp32, decision.Int8, decision.Cpu));
        Assert.Contains("INT8 measured faster", decision.Reason, StringComparison.Ordinal);

        var view = await Poll.UntilAsync(
            () => fixture.Http.GetFromJsonAsync<JsonElement>("api/assignments/" + assignmentId),
            v => v.GetProperty("devices")[0].GetProperty("published").GetBoolean(),
            Wait);
        Assert.Equal("int8", view.GetProperty("devices")[0].GetProperty("selectedPrecision").GetString());
        Assert.Contains("INT8 measured faster", view.GetProperty("devices")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);

        // Wanted INT8, running nothing yet: drift. The heartbeat then reports INT8 running: in sync.
        var drifting = await TwinAsync(device, twin => twin.GetProperty("drift").ValueKind == JsonValueKind.Object
            && twin.GetProperty("drift").GetProperty("wanted").GetString() == fixture.Int8Sha256);
        Assert.False(drifting.GetProperty("inSync").GetBoolean());
        await PublishAckAsync(client, device, 4, assignmentId, ModelAssignmentStages.Activated, sha256: fixture.Int8Sha256);
        await client.PublishAsync(Topics.Telemetry(device), new TelemetryReported
        {
            Envelope = Envelope(device, 5),
            ModelVersion = chosen.ModelVersion,
            ActiveModelSha256 = fixture.Int8Sha256,
            Throttled = true,
        }.ToByteArray());
        var synced = await TwinAsync(device, twin => twin.GetProperty("inSync").GetBoolean());
        Assert.Equal(JsonValueKind.Null, synced.GetProperty("drift").ValueKind);
        Assert.Equal(fixture.Int8Sha256, synced.GetProperty("reported").GetProperty("activeSha256").GetString());
        Assert.Equal((fixture.Int8Sha256, true), (await fixture.QueryAsync(
            $"SELECT active_model_sha256, throttled FROM telemetry WHERE device_id = '{device}'", r => (r.GetString(0), r.GetBoolean(1)))).Single());

        // The device rolls back on its own (too slow in its health check): drift again, and the why is the device's refusal.
        await PublishAckAsync(client, device, 6, assignmentId, ModelAssignmentStages.RolledBack, accepted: false, reasonCode: "health-latency",
            error: "p50 41.0 ms over the 30 ms bound", activeSha256: fixture.Fp32Sha256);
        var refused = await TwinAsync(device, twin => !twin.GetProperty("inSync").GetBoolean());
        var drift = refused.GetProperty("drift");
        Assert.Equal((fixture.Int8Sha256, fixture.Fp32Sha256, "health-latency"),
            (drift.GetProperty("wanted").GetString(), drift.GetProperty("running").GetString(), drift.GetProperty("reasonCode").GetString()));
        Assert.Contains("p50 41.0 ms over the 30 ms bound", drift.GetProperty("why").GetString(), StringComparison.Ordinal);

        // A redelivered acknowledgement is stored once; every acknowledgement is in the device's model events.
        await PublishAckAsync(client, device, 6, assignmentId, ModelAssignmentStages.RolledBack, accepted: false, reasonCode: "health-latency",
            error: "p50 41.0 ms over the 30 ms bound", activeSha256: fixture.Fp32Sha256);
        var events = await Poll.UntilAsync(
            async () => (await fixture.Http.GetFromJsonAsync<JsonElement>($"api/devices/{device}/model-events")).GetProperty("items"),
            e => e.GetArrayLength() >= 5,
            Wait);
        await Task.Delay(500);
        Assert.Equal(5, (await fixture.QueryAsync($"SELECT count(*) FROM model_events WHERE device_id = '{device}'", r => r.GetInt64(0))).Single());
        Assert.Equal(["rolled-back", "activated", "benchmarked", "verified", "downloading"], events.EnumerateArray().Select(e => e.GetProperty("stage").GetString()));

        // Assigned again, the cloud knows this device's figures for these files and chooses at once.
        var again = await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, devices = new[] { device } }, HttpStatusCode.Created);
        var known = again.GetProperty("devices")[0];
        Assert.Equal(fixture.Int8Sha256, known.GetProperty("selectedSha256").GetString());
        Assert.Contains("earlier figures", known.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var third = await WaitForAssignmentAsync(client, message => message.AssignmentId == again.GetProperty("assignmentId").GetString());
        Assert.Equal((again.GetProperty("assignmentId").GetString(), fixture.Int8Sha256), (third.AssignmentId, third.SelectedSha256));
    }

    [Fact]
    public async Task A_group_resolves_to_its_devices_and_a_device_where_int8_is_slower_keeps_fp32()
    {
        var group = "md-site-" + Guid.NewGuid().ToString("N")[..6];
        var slow = group + "-a";
        var quiet = group + "-b";
        await fixture.RegisterAsync(slow, group);
        await fixture.RegisterAsync(quiet, group);

        var assignment = await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, group, slot = "shadow", maxLatencyMs = 80f }, HttpStatusCode.Created);
        Assert.Equal([slow, quiet], assignment.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("deviceId").GetString()).Order(StringComparer.Ordinal));

        await using var client = new MqttTestClient(fixture.Fleet.BrokerHost, fixture.Fleet.BrokerPort);
        await client.ConnectAsync();
        await client.SubscribeAsync(Topics.ModelAssignment(slow));
        var first = await WaitForAssignmentAsync(client, message => message.AssignmentId == assignment.GetProperty("assignmentId").GetString());
        Assert.Equal(("shadow", 80f), (first.Slot, first.MaxLatencyMs));

        // INT8 slower than FP32 on this device (as YOLOX-Nano's is on some CPUs): FP32 is chosen, and why is recorded.
        await PublishAckAsync(client, slow, 1, first.AssignmentId, ModelAssignmentStages.Benchmarked, benchmarks:
        [
            new VariantBenchmark { Sha256 = fixture.Fp32Sha256, Precision = "fp32", P50Ms = 22f, P95Ms = 25f, Runs = 20 },
            new VariantBenchmark { Sha256 = fixture.Int8Sha256, Precision = "int8", P50Ms = 29f, P95Ms = 31f, Runs = 20 },
        ]);
        var chosen = await WaitForAssignmentAsync(client, message => message.SelectedSha256.Length > 0);
        Assert.Equal(fixture.Fp32Sha256, chosen.SelectedSha256);
        var view = await fixture.Http.GetFromJsonAsync<JsonElement>("api/assignments/" + first.AssignmentId);
        var devices = view.GetProperty("devices").EnumerateArray().ToDictionary(d => d.GetProperty("deviceId").GetString()!);
        Assert.Contains("not measured faster enough", devices[slow].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, devices[quiet].GetProperty("selectedSha256").ValueKind);

        // A shadow assignment is met by the candidate slot.
        await client.PublishAsync(Topics.Telemetry(slow), new TelemetryReported
        {
            Envelope = Envelope(slow, 2),
            ActiveModelSha256 = new string('0', 64),
            CandidateModelSha256 = fixture.Fp32Sha256,
        }.ToByteArray());
        await TwinAsync(slow, twin => twin.GetProperty("inSync").GetBoolean());
    }

    [Fact]
    public async Task Bad_assignments_and_bad_acknowledgements_are_refused_and_counted()
    {
        var device = "md-bad-" + Guid.NewGuid().ToString("N")[..6];
        await fixture.RegisterAsync(device);

        await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, devices = new[] { "md-not-registered" } }, HttpStatusCode.NotFound);
        await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, group = "md-no-such-group" }, HttpStatusCode.NotFound);
        await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = 999, devices = new[] { device } }, HttpStatusCode.NotFound);
        await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version, devices = new[] { device }, slot = "sideways" }, HttpStatusCode.BadRequest);
        await AssignAsync(new { model = ModelDistributionFleet.ModelName, version = fixture.Version }, HttpStatusCode.BadRequest);
        Assert.Empty(await fixture.QueryAsync($"SELECT assignment_id FROM model_assignments WHERE device_id = '{device}'", r => r.GetString(0)));

        var counters = fixture.Service<IngestCounters>();
        var before = counters.RejectedCount(RejectReason.OutOfRange);
        await using var client = new MqttTestClient(fixture.Fleet.BrokerHost, fixture.Fleet.BrokerPort);
        await client.ConnectAsync();
        var bad = new ModelAssignmentAcknowledged { Envelope = Envelope(device, 1), AssignmentId = "asg-x", Stage = "installed", Accepted = true };
        await client.PublishAsync(Topics.Ack(device), bad.ToByteArray());
        var counted = await Poll.UntilAsync(() => Task.FromResult(counters.RejectedCount(RejectReason.OutOfRange)), n => n > before, Wait);
        Assert.Equal(before + 1, counted);
        Assert.Empty(await fixture.QueryAsync($"SELECT stage FROM model_events WHERE device_id = '{device}'", r => r.GetString(0)));
    }

    private async Task<JsonElement> AssignAsync(object request, HttpStatusCode expected)
    {
        using var response = await fixture.Http.PostAsJsonAsync("api/assignments", request);
        return await ModelDistributionFleet.ReadJsonAsync(response, expected);
    }

    private async Task<ManifestTrust> TrustAsync()
    {
        var key = await fixture.Http.GetFromJsonAsync<JsonElement>("api/signing-key");
        return new ManifestTrust([key.GetProperty("publicKeyPem").GetString()!]);
    }

    private async Task<JsonElement> TwinAsync(string device, Func<JsonElement, bool> until)
    {
        var twin = await Poll.UntilAsync(() => fixture.Http.GetFromJsonAsync<JsonElement>($"api/devices/{device}/twin"), until, Wait);
        Assert.True(until(twin), $"twin of {device} never reached the expected state: {twin}");
        return twin;
    }

    /// <summary>The newest model message received that matches (a message may come twice: QoS 1, and republishing is idempotent).</summary>
    private static async Task<ModelAssigned> WaitForAssignmentAsync(MqttTestClient client, Func<ModelAssigned, bool> match)
    {
        ModelAssigned? Find() => client.Received
            .Where(message => message.Topic.EndsWith("/" + Topics.ModelKind, StringComparison.Ordinal))
            .Select(message => ModelAssigned.Parser.ParseFrom(message.Payload))
            .LastOrDefault(match);

        Assert.True(await client.WaitForAsync(_ => Find() is not null, Wait), $"no matching model message among {client.Received.Count} received");
        Assert.All(client.Received, message => Assert.True(message.Payload.Length <= ProtocolLimits.MaxModelAssignedPayloadBytes));
        return Find()!;
    }

    /// <summary>A download broken off partway resumes with a Range request from where it stopped, and the pieces are the file.</summary>
    private static async Task ResumeWithRangeAsync(HttpClient http, string url, byte[] whole)
    {
        var cut = whole.Length / 3;
        using var head = new HttpRequestMessage(HttpMethod.Get, url);
        head.Headers.Range = new RangeHeaderValue(0, cut - 1);
        using var headResponse = await http.SendAsync(head);
        Assert.Equal(HttpStatusCode.PartialContent, headResponse.StatusCode);
        var etag = headResponse.Headers.ETag;

        using var rest = new HttpRequestMessage(HttpMethod.Get, url);
        rest.Headers.Range = new RangeHeaderValue(cut, null);
        rest.Headers.IfRange = new RangeConditionHeaderValue(etag!);
        using var restResponse = await http.SendAsync(rest);
        Assert.Equal(HttpStatusCode.PartialContent, restResponse.StatusCode);
        Assert.Equal(whole.Length, restResponse.Content.Headers.ContentRange!.Length);

        byte[] joined = [.. await headResponse.Content.ReadAsByteArrayAsync(), .. await restResponse.Content.ReadAsByteArrayAsync()];
        Assert.Equal(whole, joined);
    }

    private async Task RefusedDownloadsAsync(HttpClient http, string url, string device)
    {
        var counters = fixture.Service<SecurityCounters>();
        var before = counters.RefusedCount(RefusalReasons.ArtifactPrefix + DownloadRefusal.BadToken);
        var uri = new Uri(url);
        var query = HttpUtility.ParseQueryString(uri.Query);
        var sha = uri.Segments[^1];
        var token = query["token"]!;

        string With(string? deviceId, string? expires, string? tokenText) =>
            $"{uri.GetLeftPart(UriPartial.Path)}?device={deviceId}&expires={expires}&token={tokenText}";

        var other = "md-other-" + Guid.NewGuid().ToString("N")[..6];
        await fixture.RegisterAsync(other);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(With(device, query["expires"], (token[0] == 'A' ? 'B' : 'A') + token[1..]))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(With(other, query["expires"], token))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(uri.GetLeftPart(UriPartial.Path))).StatusCode);
        Assert.Equal(before + 2, counters.RefusedCount(RefusalReasons.ArtifactPrefix + DownloadRefusal.BadToken));

        var expired = fixture.Service<DownloadTokens>().QueryFor(device, sha, DateTimeOffset.UtcNow.AddMinutes(-1));
        using var expiredResponse = await http.GetAsync(uri.GetLeftPart(UriPartial.Path) + "?" + expired);
        Assert.Equal(HttpStatusCode.Forbidden, expiredResponse.StatusCode);
        Assert.Contains("expired", await expiredResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A valid token for an artifact that is not stored is a 404, not someone else's file.
        var missing = new string('9', 64);
        using var notStored = await http.GetAsync($"{uri.GetLeftPart(UriPartial.Authority)}/api/artifacts/{missing}?{fixture.Service<DownloadTokens>().QueryFor(device, missing, DateTimeOffset.UtcNow.AddHours(1))}");
        Assert.Equal(HttpStatusCode.NotFound, notStored.StatusCode);
    }

    private static Envelope Envelope(string device, ulong sequence) =>
        new() { SchemaVersion = SchemaVersions.Current, DeviceId = device, Sequence = sequence, SentAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };

    private static async Task PublishAckAsync(
        MqttTestClient client, string device, ulong sequence, string assignmentId, string stage, bool accepted = true, string sha256 = "", string reasonCode = "",
        string error = "", string activeSha256 = "", VariantBenchmark[]? benchmarks = null)
    {
        var ack = new ModelAssignmentAcknowledged
        {
            Envelope = Envelope(device, sequence),
            AssignmentId = assignmentId,
            Stage = stage,
            Accepted = accepted,
            Sha256 = sha256,
            ReasonCode = reasonCode,
            Error = error,
            ActiveSha256 = activeSha256,
            CpuFeatures = benchmarks is null ? "" : "avx2,avx512-vnni",
        };
        ack.Benchmarks.Add(benchmarks ?? []);
        var result = await client.PublishAsync(Topics.Ack(device), ack.ToByteArray());
        Assert.True(result.IsSuccess, $"the broker refused the acknowledgement: {result.ReasonCode}");
    }
}
