using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.Inference;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>Downloads against a real HTTP server on loopback that drops connections, ignores ranges or refuses.</summary>
public sealed class ModelDownloaderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-download-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly ArtifactServer _server = new();
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly ModelOptions _options = new()
    {
        DownloadRetryDelay = TimeSpan.FromMilliseconds(20),
        DownloadMaxRetryDelay = TimeSpan.FromMilliseconds(50),
        DownloadAttempts = 3,
        DownloadStallTimeout = TimeSpan.FromSeconds(10),
    };

    public ModelDownloaderTests() => Directory.CreateDirectory(_directory);

    private string Part => Path.Combine(_directory, "model.part");

    public void Dispose()
    {
        _server.Dispose();
        _http.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_connection_cut_mid_transfer_is_resumed_with_a_range_request_and_the_file_is_whole()
    {
        var model = SharedData.YoloxNano416;
        var size = new FileInfo(model).Length;
        var url = _server.ServeFile("yolox.onnx", model);
        _server.CutNextAfter("yolox.onnx", 1_000_000);

        var result = await Downloader().DownloadAsync(url, Part, size, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Complete, result.Outcome);
        Assert.True(result.Resumed);
        Assert.Equal(TestModelSigner.Sha256Of(model), TestModelSigner.Sha256Of(Part));
        var requests = _server.Requests.ToList();
        Assert.Equal(2, requests.Count);
        Assert.True(requests[0].Cut);
        Assert.Equal((0L, 200), (requests[0].RangeFrom, requests[0].Status));

        // The second request asked for the rest of what the first one delivered (at most the 1 MB sent before the cut).
        Assert.InRange(requests[1].RangeFrom, 1, 1_000_000);
        Assert.Equal((206, size - requests[1].RangeFrom), (requests[1].Status, requests[1].BytesSent));
    }

    [Fact]
    public async Task A_part_file_left_by_an_earlier_run_is_continued_from_its_length()
    {
        var model = SharedData.YoloxNano416;
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(Part, bytes[..123_456]);
        var url = _server.ServeFile("yolox.onnx", model);

        var result = await Downloader().DownloadAsync(url, Part, bytes.Length, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Complete, result.Outcome);
        Assert.Equal(123_456L, Assert.Single(_server.Requests).RangeFrom);
        Assert.Equal(bytes, File.ReadAllBytes(Part));
    }

    [Fact]
    public async Task A_server_that_ignores_the_range_is_read_again_from_the_start()
    {
        var model = SharedData.YoloxNano416;
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(Part, bytes[..500_000]);
        _server.IgnoreRange = true;
        var url = _server.ServeFile("yolox.onnx", model);

        var result = await Downloader().DownloadAsync(url, Part, bytes.Length, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Complete, result.Outcome);
        Assert.Equal(200, Assert.Single(_server.Requests).Status);
        Assert.Equal(bytes, File.ReadAllBytes(Part));
    }

    [Fact]
    public async Task Never_more_than_the_manifest_size_is_written()
    {
        var url = _server.ServeBytes("big.onnx", new byte[10_000]);

        var result = await Downloader().DownloadAsync(url, Part, 4_000, CancellationToken.None);

        Assert.Equal(DownloadOutcome.TooLarge, result.Outcome);
        Assert.Equal(4_000, new FileInfo(Part).Length);
    }

    [Fact]
    public async Task A_refusal_by_the_server_is_not_retried()
    {
        _server.Refuse("gone.onnx", HttpStatusCode.NotFound);

        var result = await Downloader().DownloadAsync(_server.Url("gone.onnx"), Part, 4_000, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Failed, result.Outcome);
        Assert.Contains("404", result.Detail, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Attempts_without_progress_are_bounded()
    {
        _server.Refuse("busy.onnx", HttpStatusCode.ServiceUnavailable);

        var result = await Downloader().DownloadAsync(_server.Url("busy.onnx"), Part, 4_000, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Failed, result.Outcome);
        Assert.Equal(_options.DownloadAttempts, _server.Requests.Count);
        Assert.Equal(_options.DownloadAttempts, result.Attempts);
    }

    [Fact]
    public async Task Repeated_cuts_that_each_make_progress_still_complete()
    {
        var model = SharedData.YoloxNano416;
        var size = new FileInfo(model).Length;
        var url = _server.ServeFile("yolox.onnx", model);
        for (var i = 0; i < 5; i++)
        {
            _server.CutNextAfter("yolox.onnx", 300_000);
        }

        var result = await Downloader().DownloadAsync(url, Part, size, CancellationToken.None);

        Assert.Equal(DownloadOutcome.Complete, result.Outcome);
        Assert.Equal(6, _server.Requests.Count);
        Assert.Equal(TestModelSigner.Sha256Of(model), TestModelSigner.Sha256Of(Part));
    }

    private ModelDownloader Downloader() => new(_http, _options, TimeProvider.System, NullLogger<ModelDownloader>.Instance);
}
