using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using YoloFleet.Cli;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Security;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.Integration.Tests.ModelDistribution;

/// <summary>
/// One fleet for the model distribution tests: a fresh migrated database holding real coco128 JPEGs as hard frames of
/// a registered device, a silo (embedded broker, API key, small quantize job settings so that a job takes seconds),
/// and yolox_nano_416 uploaded with its manifest and quantized once. The tests share the FP32 and INT8 versions.
/// </summary>
public sealed class ModelDistributionFleet : IAsyncLifetime
{
    /// <summary>Hard frames seeded: enough for 8 calibration and a few held-out frames after the content-hash split.</summary>
    public const int HardFrames = 16;

    public const string HardFrameDevice = "md-cam-1";

    private static readonly (string Key, string Hash) ApiKey = ApiKeys.Mint();

    private readonly PostgresDatabase _database = new();

    public LocalFleet Fleet { get; private set; } = null!;

    public string ConnectionString => _database.ConnectionString;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The uploaded FP32 version (its number, hash) and the INT8 the fixture's job made.</summary>
    public int Version { get; private set; }

    public string Fp32Sha256 { get; private set; } = "";

    public JsonElement Job { get; private set; }

    public string Int8Sha256 { get; private set; } = "";

    public IReadOnlyList<string> SeededFrameIds { get; private set; } = [];

    public static string ModelName => "yolox_nano_416";

    public static string ManifestPath => Path.Combine(RepositoryRoot(), "models", "manifests", "yolox_nano_416.onnx.manifest.json");

    /// <summary>Quantize jobs sized for tests: few calibration and held-out frames, one latency round, a fast poll.</summary>
    public static readonly KeyValuePair<string, string?>[] SmallJobSettings =
    [
        new("Cloud:Models:CalibrationFrames", "8"),
        new("Cloud:Models:HeldOutFrames", "4"),
        new("Cloud:Models:MinHardFrames", "4"),
        new("Cloud:Models:HardFrameWindow", "64"),
        new("Cloud:Models:LatencyRounds", "1"),
        new("Cloud:Models:JobPollInterval", "00:00:01"),
    ];

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        await SeedHardFramesAsync();
        Fleet = await LocalFleet.StartCloudAsync(
            _database.ConnectionString,
            CancellationToken.None,
            extraSettings:
            [
                new("Cloud:Api:KeyHashes:0", ApiKey.Hash),
                .. SmallJobSettings,
            ]);
        Http = new HttpClient { BaseAddress = new Uri(Fleet.HttpAddress), Timeout = TimeSpan.FromMinutes(5) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey.Key);

        using var upload = await UploadAsync(SharedData.YoloxNano416, await File.ReadAllTextAsync(ManifestPath));
        var version = await ReadJsonAsync(upload, HttpStatusCode.Created);
        Version = version.GetProperty("version").GetInt32();
        Fp32Sha256 = version.GetProperty("variants")[0].GetProperty("sha256").GetString()!;

        using var submitted = await Http.PostAsync(Url($"api/models/{ModelName}/{Version}/quantize"), null);
        var job = await ReadJsonAsync(submitted, HttpStatusCode.Accepted);
        Job = await WaitForJobAsync(job.GetProperty("id").GetInt64(), TimeSpan.FromMinutes(10));
        Int8Sha256 = Job.GetProperty("result").GetProperty("sha256").GetString()
            ?? throw new InvalidOperationException("the fixture's quantize job made nothing");
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Fleet is not null)
        {
            await Fleet.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    public Task<List<T>> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> map) => _database.QueryAsync(sql, map);

    public T Service<T>()
        where T : notnull => Fleet.CloudServices.GetRequiredService<T>();

    /// <summary>POST /api/models with the file and the manifest text, as `yolofleet models upload` sends them.</summary>
    public async Task<HttpResponseMessage> UploadAsync(string modelPath, string manifestJson)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(manifestJson), "manifest");
        form.Add(new ByteArrayContent(await File.ReadAllBytesAsync(modelPath)), "model", System.IO.Path.GetFileName(modelPath));
        return await Http.PostAsync("api/models", form);
    }

    public async Task<JsonElement> WaitForJobAsync(long id, TimeSpan timeout)
    {
        var job = await Poll.UntilAsync(
            async () => await Http.GetFromJsonAsync<JsonElement>(Url($"api/jobs/{id}")),
            job => job.GetProperty("state").GetString() is "succeeded" or "failed",
            timeout);
        Assert.True(job.GetProperty("state").GetString() == "succeeded", $"job {id} did not succeed: {job}");
        return job;
    }

    public async Task RegisterAsync(string deviceId, string? group = null)
    {
        using var response = await Http.PostAsJsonAsync("api/devices", new { deviceId, displayName = "", status = "active", group });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await Fleet.RegisterDeviceAsync(deviceId, CancellationToken.None);
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static string Url(FormattableString path) => string.Format(CultureInfo.InvariantCulture, path.Format, path.GetArguments());

    private async Task SeedHardFramesAsync()
    {
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString);
        await new YoloFleet.Cloud.Data.Registry.DeviceDirectory(dataSource).RegisterAsync(HardFrameDevice, "hard frame source");
        var writer = new UpstreamWriter(dataSource);
        var images = BenchmarkImages.ImageFilesIn(SharedData.Coco128Images).Take(HardFrames).ToList();
        var captured = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
        var ids = new List<string>();
        for (var i = 0; i < images.Count; i++)
        {
            var sequence = 100 + i;
            await writer.InsertHardFrameAsync(new HardFrameRow(
                HardFrameDevice, sequence, sequence - 1, captured.AddMinutes(i), captured.AddMinutes(i), "yolox-int8-v0", "uncertain",
                await File.ReadAllBytesAsync(images[i]), []));
            ids.Add(string.Create(CultureInfo.InvariantCulture, $"{HardFrameDevice}:{sequence}"));
        }

        SeededFrameIds = ids;
    }

    public static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(folder.FullName, "YoloFleet.sln")))
            {
                return folder.FullName;
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class ModelDistributionCollection : ICollectionFixture<ModelDistributionFleet>
{
    public const string Name = "model distribution";
}
