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
