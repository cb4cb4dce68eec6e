using Npgsql;
using YoloFleet.Cli.IngestBench;
using YoloFleet.Cloud.Data;
using YoloFleet.Cloud.Ingest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// The ingest bench's own machinery on a small fleet: its accounting must be right before its figures mean anything.
/// Figures themselves are never asserted here (docs/benchmarks.md has them).
/// </summary>
public sealed class IngestBenchTests
{
    [Theory]
    [Trait("Category", "ClusterFaults")]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Small_fleet_through_two_silo_processes_is_stored_whole_and_accounted(int batchFrames)
    {
        var database = new NpgsqlConnectionStringBuilder(TestServices.PostgresServer) { Database = "yf_ingest_bench_" + Guid.NewGuid().ToString("N")[..8] }.ConnectionString;
        var settings = new IngestBenchSettings(
            database,
            Devices: 20,
            DetectionsPerSecond: 400,
            DetectionsPerFrame: 5,
            Silos: 2,
            Warmup: TimeSpan.FromSeconds(1),
            Duration: TimeSpan.FromSeconds(5),
            Mosquitto: "mosquitto",
            BatchFrames: batchFrames);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            var result = await IngestBenchmark.RunAsync(settings, TextWriter.Null, timeout.Token);

            Assert.True(result.FramesPublished > 200, $"only {result.FramesPublished} frames published");
            Assert.Equal(0, result.FramesPublished % batchFrames);
            Assert.Equal(result.FramesPublished, result.FramesStored);
            Assert.Equal(result.DetectionsPublished, result.DetectionsStored);
            Assert.Equal(0, result.Lost);
            Assert.Equal(0, result.Duplicated);
            Assert.Equal(2, result.FramesCommittedPerSilo.Count);
            Assert.All(result.FramesCommittedPerSilo, n => Assert.True(n > 0, "a silo got no share of the subscription"));
            Assert.NotNull(result.P95PublishToCommitMs);
            Assert.True(result.P50PublishToCommitMs <= result.P95PublishToCommitMs);
            Assert.NotNull(result.P95WholeRunMs);
            Assert.True(result.RawCopyRowsPerSecond > 0);
            Assert.Equal(["broker", "silos", "postgres", "simulator"], result.Cpu.Select(c => c.Process));
            Assert.True(result.Cpu.Single(c => c.Process == "silos").CoresUsed > 0, "silo CPU was not measured");
        }
        finally
        {
            await FleetDatabase.DropIfExistsAsync(database, CancellationToken.None);
        }
    }

    [Fact]
    [Trait("Category", "ClusterFaults")]
    public async Task Confirmations_are_priced_against_a_window_without_them_in_the_same_run()
    {
        var database = new NpgsqlConnectionStringBuilder(TestServices.PostgresServer) { Database = "yf_ingest_bench_" + Guid.NewGuid().ToString("N")[..8] }.ConnectionString;
        var settings = new IngestBenchSettings(
            database,
            Devices: 20,
            DetectionsPerSecond: 400,
            DetectionsPerFrame: 5,
            Silos: 1,
            Warmup: TimeSpan.FromSeconds(2),
            Duration: TimeSpan.FromSeconds(5),
            Mosquitto: "mosquitto",
            ConfirmIntervalMs: 500,
            CompareConfirmations: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            var result = await IngestBenchmark.RunAsync(settings, TextWriter.Null, timeout.Token);

            // Both windows stored everything once; the devices' sequences went on across the silo restart.
            Assert.Equal(result.FramesPublished, result.FramesStored);
            Assert.Equal(0, result.Lost);
            Assert.Equal(0, result.Duplicated);

            var off = Assert.IsType<IngestBenchPhase>(result.WithoutConfirmations);
            Assert.Equal(0, off.ConfirmIntervalMs);
            Assert.Equal(0, off.Downstream.Messages);
            Assert.True(off.DetectionsPerSecond > 0);

            // With them: about one message per active device per interval, each confirming what that device sent.
            var on = Assert.IsType<DownstreamFigures>(result.Downstream);
            Assert.Equal(500, result.ConfirmIntervalMs);
            Assert.True(on.Messages > 0, "no confirmation reached a simulated device");
            Assert.True(on.MessagesPerDevicePerSecond <= 2.5, $"{on.MessagesPerDevicePerSecond} confirmations per device per second at a 500 ms interval");
            Assert.True(on.SequencesConfirmed > 0 && on.SequencesConfirmed <= result.FramesPublished);
            Assert.True(on.WireBytesPerSecond > on.PayloadBytesPerSecond);
            Assert.InRange(on.Messages, 1, on.SiloConfirmationsPublished + settings.Devices);
            Assert.Equal(0, on.SiloConfirmationFailures);
        }
        finally
        {
            await FleetDatabase.DropIfExistsAsync(database, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(0.5, 1.0)]
    [InlineData(1.0, 1.0)]
    [InlineData(1.2, 1.25)]
    [InlineData(100, 108.4)]
    [InlineData(1_900, 1_972.2)]
    public void Latency_lands_in_the_smallest_bucket_at_or_above_it(double milliseconds, double upperBound)
    {
        var histogram = new LatencyHistogram();
        histogram.Record(milliseconds);

        Assert.Equal(upperBound, LatencyHistogram.Percentile(histogram.Snapshot(), 0.95)!.Value, 0.1);
    }

    [Fact]
    public void Percentiles_read_the_bucket_holding_that_rank()
    {
        var histogram = new LatencyHistogram();
        for (var i = 0; i < 94; i++)
        {
            histogram.Record(10);
        }

        for (var i = 0; i < 6; i++)
        {
            histogram.Record(3_000);
        }

        var counts = histogram.Snapshot();
        Assert.InRange(LatencyHistogram.Percentile(counts, 0.50)!.Value, 10.0, 12.5);
        Assert.True(LatencyHistogram.Percentile(counts, 0.95) >= 3_000, "the 95th sample is one of the slow ones");
        Assert.Null(LatencyHistogram.Percentile(new long[LatencyHistogram.UpperBoundsMs.Count], 0.95));
        Assert.True(LatencyHistogram.Percentile(counts, 1.0) <= 3_000 * 1.25);
    }

    [Fact]
    public void Negative_latency_from_clock_skew_counts_in_the_first_bucket_and_huge_ones_in_the_last()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(-50);
        histogram.Record(double.NaN);
        histogram.Record(10_000_000);

        var counts = histogram.Snapshot();
        Assert.Equal(2, counts[0]);
        Assert.Equal(1, counts[^1]);
    }
}
