using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using YoloFleet.EdgeAgent.Pipeline;

namespace YoloFleet.EdgeAgent.Tests;

public sealed class LivenessFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-live-" + Guid.NewGuid().ToString("N")[..8]);

    public LivenessFileTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task The_file_is_rewritten_while_frames_flow_left_to_age_when_the_pipeline_stalls_and_rewritten_after()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var liveness = new PipelineLiveness(time);
        var options = new EdgeAgentOptions { StateDirectory = _directory };
        options.Liveness.File = "run/alive";
        options.Liveness.Interval = TimeSpan.FromSeconds(5);
        options.Liveness.StallAfter = TimeSpan.FromSeconds(30);
        using var writer = new LivenessFileWriter(options, liveness, time, NullLogger<LivenessFileWriter>.Instance);
        var path = Path.Combine(_directory, "run", "alive");
        Assert.Equal(path, writer.Path);

        await writer.StartAsync(CancellationToken.None);
        try
        {
            // Written at once, with the current time, and again each interval while frames flow.
            Assert.True(await Eventually.TrueAsync(() => writer.Writes == 1, TimeSpan.FromSeconds(30)), $"writes {writer.Writes}");
            Assert.Equal(time.GetUtcNow(), Written(path));
            for (var i = 0; i < 3; i++)
            {
                liveness.Progress();
                var before = writer.Writes;
                time.Advance(TimeSpan.FromSeconds(5));
                Assert.True(await Eventually.TrueAsync(() => writer.Writes == before + 1, TimeSpan.FromSeconds(30)), $"writes {writer.Writes}");
                Assert.Equal(time.GetUtcNow(), Written(path));
            }

            // No progress for longer than StallAfter: the file keeps the time of the last write that saw progress.
            var lastGood = Written(path);
            for (var i = 0; i < 10; i++)
            {
                var withheld = writer.Withheld;
                var writes = writer.Writes;
                time.Advance(TimeSpan.FromSeconds(5));
                Assert.True(
                    await Eventually.TrueAsync(() => writer.Withheld + writer.Writes > withheld + writes, TimeSpan.FromSeconds(30)),
                    $"tick {i} not handled");
            }

            Assert.True(writer.Withheld >= 3, $"withheld {writer.Withheld}");
            Assert.True(Written(path) <= time.GetUtcNow() - options.Liveness.StallAfter, $"file says {Written(path):O}, now {time.GetUtcNow():O}");
            Assert.True(Written(path) >= lastGood);

            // Frames again: the next tick rewrites it.
            liveness.Progress();
            var stalledWrites = writer.Writes;
            time.Advance(TimeSpan.FromSeconds(5));
            Assert.True(await Eventually.TrueAsync(() => writer.Writes == stalledWrites + 1, TimeSpan.FromSeconds(30)));
            Assert.Equal(time.GetUtcNow(), Written(path));
            Assert.False(File.Exists(path + ".tmp"));
            Assert.Equal(0, writer.Failures);
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Without_a_file_setting_nothing_is_written()
    {
        var options = new EdgeAgentOptions { StateDirectory = _directory };
        using var writer = new LivenessFileWriter(options, new PipelineLiveness(TimeProvider.System), TimeProvider.System, NullLogger<LivenessFileWriter>.Instance);
        Assert.Null(writer.Path);
        await writer.StartAsync(CancellationToken.None);
        await (writer.ExecuteTask ?? Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(30));
        await writer.StopAsync(CancellationToken.None);
        Assert.Equal(0, writer.Writes);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public async Task A_file_that_cannot_be_written_is_counted_and_the_agent_carries_on()
    {
        // A directory where the file should be: every write fails.
        Directory.CreateDirectory(Path.Combine(_directory, "alive"));
        var time = new FakeTimeProvider();
        var options = new EdgeAgentOptions { StateDirectory = _directory };
        options.Liveness.File = "alive";
        using var writer = new LivenessFileWriter(options, new PipelineLiveness(time), time, NullLogger<LivenessFileWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        Assert.True(await Eventually.TrueAsync(() => writer.Failures == 1, TimeSpan.FromSeconds(30)));
        time.Advance(options.Liveness.Interval);
        Assert.True(await Eventually.TrueAsync(() => writer.Failures == 2, TimeSpan.FromSeconds(30)));
        Assert.False(writer.ExecuteTask!.IsCompleted);
        await writer.StopAsync(CancellationToken.None);
        Assert.Equal(0, writer.Writes);
    }

    private static DateTimeOffset Written(string path) =>
        DateTimeOffset.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}
