using System.Diagnostics;
using System.Text.Json;

namespace YoloFleet.Integration.Tests.Rollout;

/// <summary>The `yolofleet rollout` verbs as an operator runs them: the real CLI process against the fixture's silo.</summary>
[Collection(RolloutCollection.Name)]
[Trait("Category", "Rollout")]
public sealed class RolloutCliTests(RolloutFleet fixture)
{
    [Fact]
    public async Task The_cli_starts_follows_pauses_and_aborts_a_rollout_and_exits_with_the_api_s_error_codes()
    {
        var (group, _) = await fixture.RegisterGroupAsync("ro-cli", 4);

        var (code, output, error) = await RunAsync("rollout", "start", RolloutFleet.ModelName + "@2", "--group", group,
            "--stage", "50:2h:1000", "--stage", "100:2h:1000:5", "--regression", "5", "--json");
        Assert.True(code == 0, $"start exited {code}: {error}");
        var started = JsonDocument.Parse(output).RootElement;
        var id = started.GetProperty("id").GetString()!;
        Assert.Equal((1, 0.05), (started.GetProperty("baselineVersion").GetInt32(), started.GetProperty("gates").GetProperty("regression").GetDouble()));
        Assert.Equal(TimeSpan.FromHours(2).ToString("c"), started.GetProperty("stages")[1].GetProperty("minSoak").GetString());
        Assert.Equal(5, started.GetProperty("stages")[1].GetProperty("minLatencySamples").GetInt32());

        (code, output, error) = await RunAsync("rollout", "status", id);
        Assert.True(code == 0, $"status exited {code}: {error}");
        Assert.Contains($"rollout {id}: {RolloutFleet.ModelName}@2 against @1, running", output, StringComparison.Ordinal);
        Assert.Contains("stage-entered", output, StringComparison.Ordinal);

        // Each stage device's variant, as a table row: the device, the precision chosen, the hash and the assignment.
        var api = await fixture.GetAsync($"api/rollouts/{id}");
        var variants = api.GetProperty("variants").EnumerateArray().ToList();
        Assert.Equal(api.GetProperty("stageDevices").GetArrayLength(), variants.Count);
        Assert.Contains("variants:", output, StringComparison.Ordinal);
        foreach (var variant in variants)
        {
            var row = output.Split('\n').SingleOrDefault(line => line.TrimStart().StartsWith(variant.GetProperty("deviceId").GetString()! + " ", StringComparison.Ordinal));
            Assert.True(row is not null, $"no row for {variant.GetProperty("deviceId").GetString()} in:{Environment.NewLine}{output}");
            Assert.Contains("fp32", row, StringComparison.Ordinal);
            Assert.Contains(fixture.CandidateSha256[..12], row, StringComparison.Ordinal);
            Assert.Contains(variant.GetProperty("assignmentId").GetString()!, row, StringComparison.Ordinal);
        }

        // --json: the API's status whole, variants included.
        (code, output, error) = await RunAsync("rollout", "status", id, "--json");
        Assert.True(code == 0, $"status --json exited {code}: {error}");
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal(
            variants.Select(v => (v.GetProperty("deviceId").GetString(), v.GetProperty("sha256").GetString(), v.GetProperty("reason").GetString())),
            json.GetProperty("variants").EnumerateArray().Select(v => (v.GetProperty("deviceId").GetString(), v.GetProperty("sha256").GetString(), v.GetProperty("reason").GetString())));
        Assert.Equal(api.GetProperty("events").GetArrayLength(), json.GetProperty("events").GetArrayLength());

        (code, output, error) = await RunAsync("rollout", "pause", id, "--reason", "change freeze");
        Assert.True(code == 0, $"pause exited {code}: {error}");
        Assert.Contains("paused", output, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("rollout", "pause", id);
        Assert.Equal(2, code);
        Assert.Contains("'pause' needs it running", error, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("rollout", "abort", id, "--reason", "not needed");
        Assert.True(code == 0, $"abort exited {code}: {error}");
        Assert.Contains("aborted", output, StringComparison.Ordinal);

        (code, output, _) = await RunAsync("rollout", "list");
        Assert.Equal(0, code);
        Assert.Contains(id, output, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("rollout", "status", "ro-" + new string('f', 32));
        Assert.Equal(3, code);
        Assert.Contains("No rollout", error, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("rollout", "start", RolloutFleet.ModelName, "--group", group, "--stage", "fifty");
        Assert.Equal(2, code);
        Assert.Contains("PERCENT:SOAK:HARD_FRAMES", error, StringComparison.Ordinal);

        // A shadow stage first, then the switch; the divergence bound as given. The plan is checked by the silo: a
        // shadow stage after a switching one is refused.
        (code, output, error) = await RunAsync("rollout", "start", RolloutFleet.ModelName + "@2", "--group", group,
            "--stage", "shadow:50:2h:6", "--stage", "100:2h:1000:5:3", "--max-shadow-divergence", "0.4", "--json");
        Assert.True(code == 0, $"start with a shadow stage exited {code}: {error}");
        var shadowed = JsonDocument.Parse(output).RootElement;
        Assert.Equal((true, 6), (shadowed.GetProperty("stages")[0].GetProperty("shadow").GetBoolean(), shadowed.GetProperty("stages")[0].GetProperty("minShadowWindows").GetInt32()));
        Assert.Equal((false, 3), (shadowed.GetProperty("stages")[1].GetProperty("shadow").GetBoolean(), shadowed.GetProperty("stages")[1].GetProperty("minShadowWindows").GetInt32()));
        Assert.Equal(0.4, shadowed.GetProperty("gates").GetProperty("maxShadowDivergence").GetDouble());
        Assert.Contains("in shadow", shadowed.GetProperty("events")[1].GetProperty("reason").GetString(), StringComparison.Ordinal);
        (code, _, _) = await RunAsync("rollout", "abort", shadowed.GetProperty("id").GetString()!);
        Assert.Equal(0, code);

        (code, _, error) = await RunAsync("rollout", "start", RolloutFleet.ModelName, "--group", group, "--stage", "50:2h:1000", "--stage", "shadow:100:2h");
        Assert.Equal(2, code);
        Assert.Contains("shadow stage must come before", error, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "yolofleet.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--url");
        start.ArgumentList.Add(fixture.Fleet.HttpAddress);
        start.ArgumentList.Add("--api-key");
        start.ArgumentList.Add(RolloutFleet.OperatorKey);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start yolofleet");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
