using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Npgsql;
using YoloFleet.Cloud.Data;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Data.Quantization;
using YoloFleet.Cloud.Data.Registry;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;
using YoloFleet.Onnx;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Tests;

/// <summary>
/// A fresh, migrated database holding hard frames whose JPEGs are real coco128 files, from three devices at different
/// times (two frames share a capture time, to pin the tie order), plus one undecodable frame on its own device.
/// </summary>
public sealed class StoredHardFrames : IAsyncLifetime
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    /// <summary>(device, sequence, hours after <see cref="T0"/>, model version, coco128 image index by name).</summary>
    public static readonly (string Device, long Sequence, int Hours, string Model, int Image)[] Frames =
    [
        ("pi-a", 1, 0, "yolox-int8-v1", 0),
        ("pi-b", 1, 1, "yolox-int8-v1", 1),
        ("pi-c", 5, 2, "yolox-int8-v2", 2),
        ("pi-b", 2, 3, "yolox-int8-v2", 4),
        ("pi-a", 2, 3, "yolox-int8-v1", 3),
        ("pi-c", 6, 4, "yolox-int8-v2", 5),
    ];

    /// <summary>A frame whose bytes are not an image, captured before all the others.</summary>
    public const string CorruptDevice = "pi-corrupt";

    public const long CorruptSequence = 77;

    public string ConnectionString { get; private set; } = "";

    /// <summary>The first coco128 images by name (the order <see cref="ImageFolderCalibrationSet"/> reads them in).</summary>
    public IReadOnlyList<string> Images { get; } = [.. BenchmarkImages.ImageFilesIn(SharedData.Coco128Images).Take(6)];

    public async Task InitializeAsync()
    {
        var server = Environment.GetEnvironmentVariable("YOLOFLEET_PG") ?? "Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres";
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = "yf_test_hf_" + Guid.NewGuid().ToString("N")[..12] }.ConnectionString;
        try
        {
            await FleetDatabase.MigrateAsync(ConnectionString);
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException(ex.Message + " These tests need the real PostgreSQL (YOLOFLEET_PG): run them with `bash deploy/test.sh`.", ex);
        }

        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        var devices = new DeviceDirectory(dataSource);
        var writer = new UpstreamWriter(dataSource);
        foreach (var device in Frames.Select(frame => frame.Device).Append(CorruptDevice).Distinct())
        {
            await devices.RegisterAsync(device, device);
        }

        foreach (var (device, sequence, hours, model, image) in Frames)
        {
            await writer.InsertHardFrameAsync(Row(device, sequence, T0.AddHours(hours), model, await File.ReadAllBytesAsync(Images[image])));
        }

        await writer.InsertHardFrameAsync(Row(CorruptDevice, CorruptSequence, T0.AddDays(-1), "yolox-int8-v1", "this is not a JPEG"u8.ToArray()));
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await FleetDatabase.DropIfExistsAsync(ConnectionString);
    }

    private static HardFrameRow Row(string device, long sequence, DateTimeOffset capturedAt, string model, byte[] jpeg) =>
        new(device, sequence, sequence * 10, capturedAt, capturedAt.AddSeconds(2), model, "low_confidence", jpeg, []);
}

public sealed class HardFrameCalibrationSetTests(StoredHardFrames store) : IClassFixture<StoredHardFrames>, IDisposable
{
    private static readonly string[] GoodDevices = ["pi-a", "pi-b", "pi-c"];

    private readonly string _folder = Directory.CreateTempSubdirectory("yolofleet-hf-calib-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private HardFrameCalibrationSet Open(HardFrameSelection selection) => new(SharedData.PicoDetS320, store.ConnectionString, selection);

    private static string[] Keys(HardFrameCalibrationSet set) => [.. set.Frames.Select(frame => $"{frame.DeviceId}#{frame.Sequence}")];

    [Fact]
    public void Selects_the_newest_frames_first_with_ties_ordered_by_device_then_sequence()
    {
        using var all = Open(new HardFrameSelection { MaxFrames = 100 });
        Assert.Equal(["pi-c#6", "pi-a#2", "pi-b#2", "pi-c#5", "pi-b#1", "pi-a#1", $"{StoredHardFrames.CorruptDevice}#{StoredHardFrames.CorruptSequence}"], Keys(all));
        Assert.Equal(7, all.Count);
        Assert.Equal(StoredHardFrames.T0.AddHours(4), all.Frames[0].CapturedAt);

        using var newest = Open(new HardFrameSelection { MaxFrames = 3 });
        Assert.Equal(["pi-c#6", "pi-a#2", "pi-b#2"], Keys(newest));
        Assert.StartsWith("3 hard frames from 3 devices (pi-a, pi-b, pi-c), captured 2026-11-20T13:00:00Z to 2026-11-20T14:00:00Z", newest.Description, StringComparison.Ordinal);
        Assert.EndsWith("(database " + new NpgsqlConnectionStringBuilder(store.ConnectionString).Database + ")", newest.Description, StringComparison.Ordinal);
        Assert.Equal(0, newest.FramesRead);
    }

    [Fact]
    public void Device_since_and_model_version_filters_select_only_matching_frames()
    {
        using var devices = Open(new HardFrameSelection { MaxFrames = 100, DeviceIds = ["pi-a", "pi-c"] });
        Assert.Equal(["pi-c#6", "pi-a#2", "pi-c#5", "pi-a#1"], Keys(devices));
        Assert.Contains("selected by devices pi-a, pi-c", devices.Description, StringComparison.Ordinal);

        // Since is inclusive: the two frames captured exactly at +3 h are in.
        using var since = Open(new HardFrameSelection { MaxFrames = 100, Since = StoredHardFrames.T0.AddHours(3) });
        Assert.Equal(["pi-c#6", "pi-a#2", "pi-b#2"], Keys(since));

        using var oneDeviceSince = Open(new HardFrameSelection { MaxFrames = 100, DeviceIds = ["pi-b"], Since = StoredHardFrames.T0.AddMinutes(30) });
        Assert.Equal(["pi-b#2", "pi-b#1"], Keys(oneDeviceSince));
        Assert.StartsWith("2 hard frames from device pi-b", oneDeviceSince.Description, StringComparison.Ordinal);

        using var model = Open(new HardFrameSelection { MaxFrames = 2, ModelVersion = "yolox-int8-v2" });
        Assert.Equal(["pi-c#6", "pi-b#2"], Keys(model));
    }

    [Fact]
    public void Read_gives_exactly_the_tensor_the_image_folder_set_gives_for_the_same_file()
    {
        using var hardFrames = Open(new HardFrameSelection { MaxFrames = 6, DeviceIds = GoodDevices });
        using var folder = new ImageFolderCalibrationSet(SharedData.PicoDetS320, SharedData.Coco128Images, maxImages: store.Images.Count);
        var length = 3 * 320 * 320;
        var fromDatabase = new float[length];
        var fromFile = new float[length];
        var previous = new float[length];
        for (var i = 0; i < hardFrames.Count; i++)
        {
            var frame = hardFrames.Frames[i];
            var image = StoredHardFrames.Frames.Single(stored => stored.Device == frame.DeviceId && stored.Sequence == frame.Sequence).Image;
            Assert.Equal(store.Images[image], folder.Files[image]);

            hardFrames.Read(i, fromDatabase);
            folder.Read(image, fromFile);

            Assert.Equal(fromFile, fromDatabase);
            Assert.Contains(fromDatabase, value => value != 0);
            Assert.NotEqual(previous, fromDatabase);
            fromDatabase.CopyTo(previous, 0);
        }

        Assert.Equal(6, hardFrames.FramesRead);
    }

    [Fact]
    public void A_frame_that_does_not_decode_stops_calibration_with_its_device_and_sequence()
    {
        using var set = Open(new HardFrameSelection { DeviceIds = [StoredHardFrames.CorruptDevice] });
        Assert.Equal(1, set.Count);

        var error = Assert.Throws<QuantizationException>(() => set.Read(0, new float[3 * 320 * 320]));
        Assert.Contains($"{StoredHardFrames.CorruptDevice} #{StoredHardFrames.CorruptSequence}", error.Message, StringComparison.Ordinal);
        Assert.Contains("not a JPEG", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, set.FramesRead);

        // The quantizer surfaces the same error rather than calibrating on less than the description says.
        var quantizeError = Assert.Throws<QuantizationException>(() =>
            ModelQuantizer.Quantize(OnnxModelFile.Load(SharedData.PicoDetS320), set, new QuantizerOptions { AutoExclude = false, ComparisonSamples = 1 }));
        Assert.Contains($"{StoredHardFrames.CorruptDevice} #{StoredHardFrames.CorruptSequence}", quantizeError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_selection_is_refused_with_the_filters_and_the_folder_alternative()
    {
        var noDevice = Assert.Throws<QuantizationException>(() => Open(new HardFrameSelection { DeviceIds = ["pi-none"] }));
        Assert.Contains("No hard frames stored for device pi-none", noDevice.Message, StringComparison.Ordinal);
        Assert.Contains("pass --calib <folder>", noDevice.Message, StringComparison.Ordinal);

        var tooLate = Assert.Throws<QuantizationException>(() => Open(new HardFrameSelection { DeviceIds = ["pi-a"], Since = StoredHardFrames.T0.AddDays(1) }));
        Assert.Contains("device pi-a; captured since 2026-11-21T10:00:00Z", tooLate.Message, StringComparison.Ordinal);

        var noSchema = Assert.Throws<QuantizationException>(() => new HardFrameCalibrationSet(
            SharedData.PicoDetS320, new NpgsqlConnectionStringBuilder(store.ConnectionString) { Database = "postgres" }.ConnectionString, new HardFrameSelection()));
        Assert.Contains("yolofleet db migrate", noSchema.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quantizing_on_four_stored_frames_gives_the_folder_calibrated_model_byte_for_byte_and_it_runs_in_onnx_runtime()
    {
        var fp32 = OnnxModelFile.Load(SharedData.PicoDetS320);
        var options = new QuantizerOptions { AutoExclude = false, ComparisonSamples = 2 };
        using var set = Open(new HardFrameSelection { MaxFrames = 4, DeviceIds = GoodDevices });
        Assert.Equal(4, set.Count);

        var result = ModelQuantizer.Quantize(fp32, set, options);

        // Every calibration pass read each frame from the database.
        Assert.True(set.FramesRead >= 4 * 2, $"{set.FramesRead} frames read");
        Assert.True(result.Report.QuantizedNodes > 0);

        // The same images as files, named so that the folder's name order is the frames' newest-first order: the
        // quantizer is deterministic, so the same inputs in the same order must give the same bytes.
        var images = Directory.CreateDirectory(Path.Combine(_folder, "images")).FullName;
        for (var i = 0; i < set.Count; i++)
        {
            var stored = StoredHardFrames.Frames.Single(frame => frame.Device == set.Frames[i].DeviceId && frame.Sequence == set.Frames[i].Sequence);
            File.Copy(store.Images[stored.Image], Path.Combine(images, $"{i}.jpg"));
        }

        using (var folder = new ImageFolderCalibrationSet(SharedData.PicoDetS320, images, maxImages: 4))
        {
            var fromFolder = ModelQuantizer.Quantize(OnnxModelFile.Load(SharedData.PicoDetS320), folder, options);
            Assert.Equal(fromFolder.Model.ToByteArray(), result.Model.ToByteArray());
        }

        var path = Path.Combine(_folder, "picodet_hard_frames_int8.onnx");
        OnnxModelFile.Save(result.Model, path);

        using var sessionOptions = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 1 };
        using var session = new InferenceSession(path, sessionOptions);
        var input = new float[3 * 320 * 320];
        set.Read(0, input);
        var inputName = session.InputNames[0];
        Assert.Equal([1, 3, 320, 320], session.InputMetadata[inputName].Dimensions);
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, 320, 320]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [value], session.OutputNames);
        Assert.Equal(fp32.Graph.Output.Count, outputs.Count);
        Assert.All(outputs, output => Assert.All(output.GetTensorDataAsSpan<float>().ToArray(), number => Assert.True(float.IsFinite(number))));

        // The detector opens it like the FP32 model (same layout, recognised from the graph).
        using var detector = Detector.Open(path, new DetectorOptions { IntraOpThreads = 1 });
        Assert.Equal("picodet-gfl", detector.Model.Layout);
    }
}
