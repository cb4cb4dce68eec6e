using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Playwright;

namespace YoloFleet.Dashboard.Tests;

/// <summary>
/// The dashboard in headless Chromium against <see cref="DashboardFleet"/>: a real silo, broker, database, FP32 verifier
/// and a real agent. Each test keeps a screenshot under <see cref="Artifacts.Folder"/> (docs/dashboard.md).
/// </summary>
[Collection(DashboardCollection.Name)]
[Trait("Category", "Dashboard")]
public sealed class DashboardTests(DashboardFleet fleet) : IAsyncLifetime
{
    /// <summary>Generous: the CI machine has 2 cores, shared with the agent, the verifier and the silo.</summary>
    private const float Timeout = 90_000;

    private Browser _browser = null!;

    public async Task InitializeAsync() => _browser = await Browser.LaunchAsync();

    public async Task DisposeAsync() => await _browser.DisposeAsync();

    [Fact]
    public async Task A_wrong_key_is_refused_and_a_read_only_one_shows_the_fleet_table_with_the_real_devices()
    {
        var page = await _browser.OpenAsync(fleet.Fleet.HttpAddress, apiKey: null);
        await page.GotoAsync("/dashboard/");
        await page.Locator("#login").WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = Timeout });

        await page.FillAsync("#api-key", "yf_not-a-key");
        await page.ClickAsync("#login button[type=submit]");
        await page.Locator("#login-error").Filter(new() { HasTextRegex = new(".+") }).WaitForAsync(new() { Timeout = Timeout });
        Assert.Contains("not recognised", await page.TextContentAsync("#login-error"), StringComparison.Ordinal);

        await page.FillAsync("#api-key", DashboardFleet.ReaderKey);
        await page.ClickAsync("#login button[type=submit]");
        var agentRow = page.Locator($"tr[data-device='{DashboardFleet.AgentDevice}']");
        await agentRow.Locator(".badge.online").WaitForAsync(new() { Timeout = Timeout });
        foreach (var device in DashboardFleet.QuietDevices)
        {
            var row = page.Locator($"tr[data-device='{device}']");
            Assert.Equal(1, await row.CountAsync());
            Assert.Contains("offline", await row.TextContentAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(DashboardFleet.QuietDevices.Length + 1, await page.Locator("#fleet-table tbody tr").CountAsync());
        Assert.Equal("live", await page.TextContentAsync("#feed-state"));
        Assert.Equal((DashboardFleet.QuietDevices.Length + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), await page.TextContentAsync("[data-figure=devices]"));
        await Artifacts.ScreenshotAsync(page, "fleet");
    }

    [Fact]
    public async Task The_device_page_shows_live_figures_that_change_and_its_telemetry_charts()
    {
        await fleet.WaitForAgentDataAsync();
        var page = await _browser.OpenAsync(fleet.Fleet.HttpAddress, DashboardFleet.OperatorKey);
        await page.GotoAsync($"/dashboard/#/device/{DashboardFleet.AgentDevice}");
        var frames = page.Locator("[data-figure=frames]");
        await frames.WaitForAsync(new() { Timeout = Timeout });
        var first = long.Parse(await frames.TextContentAsync() ?? "", System.Globalization.CultureInfo.InvariantCulture);

        // The agent publishes 2 frames a second: the figure moves without a reload.
        await page.WaitForFunctionAsync(
            "first => Number(document.querySelector('[data-figure=frames]')?.textContent) > first", first, new() { Timeout = Timeout });
        await page.WaitForFunctionAsync(
            "() => document.querySelector('[data-figure=model]')?.textContent.startsWith('yolox_nano_416')", null, new() { Timeout = Timeout });
        Assert.Contains("online", await page.TextContentAsync("[data-figure=status]"), StringComparison.Ordinal);

        await page.WaitForFunctionAsync("() => Number(document.querySelector('#device-fps-chart svg')?.dataset.points) >= 2", null, new() { Timeout = Timeout });
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#device-latency-chart svg')?.dataset.points) > 0", null, new() { Timeout = Timeout });
        Assert.True(await page.Locator("#device-fps-chart circle.point").CountAsync() >= 2);
        await page.Locator("#device-hard-frames table").WaitForAsync(new() { Timeout = Timeout });
        await Artifacts.ScreenshotAsync(page, "device");
    }

    [Fact]
    public async Task The_rollout_page_shows_its_stages_and_gates()
    {
        var status = await GetJsonAsync($"api/rollouts/{fleet.RolloutId}");
        var stages = status.GetProperty("stages").GetArrayLength();
        Assert.True(stages >= 2);

        var page = await _browser.OpenAsync(fleet.Fleet.HttpAddress, DashboardFleet.OperatorKey);
        await page.GotoAsync("/dashboard/#/rollouts");
        await page.Locator($"tr[data-rollout='{fleet.RolloutId}']").WaitForAsync(new() { Timeout = Timeout });
        await page.ClickAsync($"tr[data-rollout='{fleet.RolloutId}'] a");
        await page.Locator("#rollout-stages").WaitForAsync(new() { Timeout = Timeout });

        Assert.Equal(stages, await page.Locator("#rollout-stages .stage").CountAsync());
        Assert.Equal(1, await page.Locator("#rollout-stages .stage.current").CountAsync());
        Assert.Equal("1", await page.Locator("#rollout-stages .stage.current").GetAttributeAsync("data-stage"));
        Assert.Equal(status.GetProperty("state").GetString(), await page.TextContentAsync("[data-figure=state]"));
        Assert.Contains(DashboardFleet.ModelName, await page.TextContentAsync("[data-figure=model]"), StringComparison.Ordinal);

        // The gates' figures appear once the grain evaluated the stage (every few seconds).
        await page.Locator("#rollout-gate").WaitForAsync(new() { Timeout = Timeout });
        Assert.Contains("agreement", await page.TextContentAsync("#rollout-gate"), StringComparison.Ordinal);
        await Artifacts.ScreenshotAsync(page, "rollout");
    }

    [Fact]
    public async Task The_charts_draw_the_agents_data_from_the_analytics_api()
    {
        await fleet.WaitForAgentDataAsync();
        var page = await _browser.OpenAsync(fleet.Fleet.HttpAddress, DashboardFleet.OperatorKey);
        await page.GotoAsync("/dashboard/#/charts");
        foreach (var chart in new[] { "chart-agreement", "chart-latency", "chart-latency-devices", "chart-classes", "chart-hard-frames" })
        {
            await page.WaitForFunctionAsync(
                "id => Number(document.querySelector('#' + id + ' svg')?.dataset.points) > 0", chart, new() { Timeout = Timeout });
            Assert.True(await page.Locator($"#{chart} svg .point").CountAsync() > 0, chart + " drew no data points");
        }

        Assert.Equal(0, await page.Locator("#view .error").CountAsync());
        await Artifacts.ScreenshotAsync(page, "charts");
    }

    [Fact]
    public async Task The_gallery_draws_the_edge_and_the_fp32_boxes_over_a_hard_frame()
    {
        await fleet.WaitForAgentDataAsync();
        var page = await _browser.OpenAsync(fleet.Fleet.HttpAddress, DashboardFleet.OperatorKey);
        await page.GotoAsync("/dashboard/#/gallery");
        var frame = page.Locator(".frame[data-drawn=true]").Filter(new() { Has = page.Locator("rect.box.edge") }).Filter(new() { Has = page.Locator("rect.box.reference") }).First;
        await frame.WaitForAsync(new() { Timeout = Timeout });

        var id = await frame.GetAttributeAsync("data-frame") ?? "";
        var detail = await GetJsonAsync($"api/hard-frames/{id}");
        Assert.Equal(detail.GetProperty("edge").GetArrayLength(), await frame.Locator("rect.box.edge").CountAsync());
        Assert.Equal(detail.GetProperty("reference").GetArrayLength(), await frame.Locator("rect.box.reference").CountAsync());
        Assert.True(await frame.Locator("img").EvaluateAsync<int>("img => img.naturalWidth") > 0, "the frame's JPEG did not load");
        await Artifacts.ScreenshotAsync(page, "gallery");
    }

    [Fact]
    public async Task The_page_is_open_but_the_stream_and_the_gallery_need_a_key_and_refuse_bad_input()
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri(fleet.Fleet.HttpAddress) };
        using (var page = await anonymous.GetAsync("dashboard/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("<script type=\"module\" src=\"app.js\">", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var stream = await anonymous.GetAsync("api/stream"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, stream.StatusCode);
        }

        using (var missing = await anonymous.GetAsync("dashboard/no-such-file.js"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        var before = (await GetJsonAsync("api/dashboard/stats")).GetProperty("badRequests").GetInt64();
        using (var bad = await fleet.Http.GetAsync("api/hard-frames?device=not%20a%20device"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("not a valid device id", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var tooMany = await fleet.Http.GetAsync("api/hard-frames?limit=100000"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        }

        using (var gone = await fleet.Http.GetAsync("api/hard-frames/dash-quiet-01/12345"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        Assert.Equal(before + 2, (await GetJsonAsync("api/dashboard/stats")).GetProperty("badRequests").GetInt64());
    }

    [Fact]
    public async Task The_stream_sends_a_snapshot_of_every_device_then_deltas()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/stream");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var response = await fleet.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));

        var events = new List<(string Name, JsonElement Data)>();
        string? name = null;
        while (events.Count < 2 && await reader.ReadLineAsync(cancel.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((name!, JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone()));
            }
        }

        Assert.Equal("snapshot", events[0].Name);
        var columns = events[0].Data.GetProperty("columns").EnumerateArray().Select(c => c.GetString()).ToList();
        var ids = events[0].Data.GetProperty("rows").EnumerateArray().Select(r => r[columns.IndexOf("id")].GetString()).ToHashSet();
        Assert.Contains(DashboardFleet.AgentDevice, ids);
        Assert.All(DashboardFleet.QuietDevices, d => Assert.Contains(d, ids));
        Assert.True(events[0].Data.GetProperty("rollouts").GetArrayLength() >= 1);

        // The agent keeps publishing: the next event is a delta with what changed, never the devices that stay quiet.
        Assert.Equal("delta", events[1].Name);
        Assert.False(events[1].Data.TryGetProperty("columns", out _));
        var changed = events[1].Data.GetProperty("rows").EnumerateArray().Select(r => r[columns.IndexOf("id")].GetString()).ToList();
        Assert.All(DashboardFleet.QuietDevices, d => Assert.DoesNotContain(d, changed));
    }

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await fleet.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
