using System.Globalization;
using System.Text;
using Npgsql;
using OpenCvSharp;
using YoloFleet.Inference;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Data.Quantization;

/// <summary>Which stored hard frames to calibrate on: the newest <see cref="MaxFrames"/> that pass every filter given.</summary>
public sealed record HardFrameSelection
{
    public int MaxFrames { get; init; } = 64;

    /// <summary>Only these devices (empty: every device).</summary>
    public IReadOnlyList<string> DeviceIds { get; init; } = [];

    /// <summary>Only frames the edge took with this model version (null: any).</summary>
    public string? ModelVersion { get; init; }

    /// <summary>Only frames captured at or after this time (null: any).</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>The filters in words, for errors and the description ("" when there are none).</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (DeviceIds.Count > 0)
        {
            parts.Add((DeviceIds.Count == 1 ? "device " : "devices ") + string.Join(", ", DeviceIds));
        }

        if (ModelVersion is not null)
        {
            parts.Add($"edge model version '{ModelVersion}'");
        }

        if (Since is { } since)
        {
            parts.Add("captured since " + Timestamp(since));
        }

        return string.Join("; ", parts);
    }

    internal static string Timestamp(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>
/// The fleet's stored hard frames (table hard_frames) as calibration inputs: the newest frames first (captured_at
/// descending, then device id and sequence, so the order is stable), pre-processed exactly as the detector does for the
/// FP32 model, like <see cref="ImageFolderCalibrationSet"/>. Construction reads only the keys; each
/// <see cref="Read"/> fetches and decodes one JPEG, so 1,000+ frames cost round trips, not memory. A JPEG that does not
/// decode, or a frame deleted since the keys were read (retention), stops the run with a
/// <see cref="QuantizationException"/> naming the device and sequence: calibrating on silently fewer frames than the
/// description says would make the report lie. Not thread-safe (the calibrator reads one input at a time).
/// </summary>
public sealed class HardFrameCalibrationSet : ICalibrationSet, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly Detector _detector;
    private readonly HardFrameKey[] _keys;
    private readonly string _database;

    /// <exception cref="QuantizationException">
    /// No stored hard frame matches, or the database cannot be read (unreachable, or not migrated).
    /// </exception>
    public HardFrameCalibrationSet(string fp32ModelPath, string connectionString, HardFrameSelection selection)
    {
        ArgumentException.ThrowIfNullOrEmpty(fp32ModelPath);
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentOutOfRangeException.ThrowIfLessThan(selection.MaxFrames, 1);

        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _database = builder.Database ?? "postgres";
        _dataSource = NpgsqlDataSource.Create(connectionString);
        try
        {
            _keys = ReadKeys(_dataSource, selection, $"{builder.Host}:{builder.Port}", _database);
            if (_keys.Length == 0)
            {
                var filters = selection.Describe();
                throw new QuantizationException(
                    $"No hard frames stored{(filters.Length == 0 ? "" : " for " + filters)} (database {_database}); pass --calib <folder> to calibrate on an image folder.");
            }

            _detector = Detector.Open(fp32ModelPath, new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error });
        }
        catch
        {
            _dataSource.Dispose();
            throw;
        }

        Description = Describe(_keys, selection, _database);
    }

    public string Description { get; }

    public int Count => _keys.Length;

    /// <summary>The frames in calibration order (newest first).</summary>
    public IReadOnlyList<HardFrameKey> Frames => _keys;

    /// <summary>JPEGs fetched and decoded so far (each calibration pass reads every frame again).</summary>
    public long FramesRead { get; private set; }

    public void Read(int index, Span<float> input)
    {
        var key = _keys[index];
        var jpeg = FetchJpeg(key);
        using var image = Cv2.ImDecode(jpeg, ImreadModes.Color);
        if (image.Empty())
        {
            throw new QuantizationException(
                $"Hard frame {key.DeviceId} #{key.Sequence} (captured {HardFrameSelection.Timestamp(key.CapturedAt)}, {jpeg.Length} bytes) is not a JPEG that OpenCV decodes; " +
                "leave it out with --calib-device or --calib-since, or calibrate on a folder with --calib.");
        }

        _detector.Preprocess(image, input);
        FramesRead++;
    }

    public void Dispose()
    {
        _detector.Dispose();
        _dataSource.Dispose();
    }

    private byte[] FetchJpeg(HardFrameKey key)
    {
        try
        {
            using var command = _dataSource.CreateCommand("SELECT jpeg FROM hard_frames WHERE device_id = $1 AND sequence = $2");
            command.Parameters.AddWithValue(key.DeviceId);
            command.Parameters.AddWithValue(key.Sequence);
            return command.ExecuteScalar() as byte[]
                ?? throw new QuantizationException(
                    $"Hard frame {key.DeviceId} #{key.Sequence} is no longer stored in database {_database} (deleted by retention while calibrating?); run again.");
        }
        catch (NpgsqlException ex)
        {
            throw new QuantizationException($"Cannot read hard frame {key.DeviceId} #{key.Sequence} from database {_database}: {Reason(ex)}", ex);
        }
    }

    private static HardFrameKey[] ReadKeys(NpgsqlDataSource dataSource, HardFrameSelection selection, string server, string database)
    {
        // Only the keys: the JPEGs stay in the database until Read asks for one.
        var sql = new StringBuilder("SELECT device_id, sequence, captured_at FROM hard_frames WHERE true");
        using var command = dataSource.CreateCommand();
        if (selection.DeviceIds.Count > 0)
        {
            command.Parameters.AddWithValue(selection.DeviceIds.ToArray());
            sql.Append(CultureInfo.InvariantCulture, $" AND device_id = ANY(${command.Parameters.Count})");
        }

        if (selection.ModelVersion is { } modelVersion)
        {
            command.Parameters.AddWithValue(modelVersion);
            sql.Append(CultureInfo.InvariantCulture, $" AND model_version = ${command.Parameters.Count}");
        }

        if (selection.Since is { } since)
        {
            command.Parameters.AddWithValue(since.UtcDateTime);
            sql.Append(CultureInfo.InvariantCulture, $" AND captured_at >= ${command.Parameters.Count}");
        }

        command.Parameters.AddWithValue(selection.MaxFrames);
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY captured_at DESC, device_id, sequence LIMIT ${command.Parameters.Count}");
        command.CommandText = sql.ToString();
        try
        {
            using var reader = command.ExecuteReader();
            var keys = new List<HardFrameKey>();
            while (reader.Read())
            {
                keys.Add(new HardFrameKey(reader.GetString(0), reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2)));
            }

            return [.. keys];
        }
        catch (NpgsqlException ex)
        {
            throw new QuantizationException(
                $"Cannot read hard frames from PostgreSQL at {server}, database {database} ({Reason(ex)}). Check --connection, and run `yolofleet db migrate` if the schema is missing.",
                ex);
        }
    }

    // A server error's Message spans several lines (code, text, position); one line reads better after "error:".
    private static string Reason(NpgsqlException ex) => ex is PostgresException postgres ? $"{postgres.SqlState}: {postgres.MessageText}" : ex.Message;

    private static string Describe(HardFrameKey[] keys, HardFrameSelection selection, string database)
    {
        var devices = keys.Select(key => key.DeviceId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var oldest = keys.Min(key => key.CapturedAt);
        var newest = keys.Max(key => key.CapturedAt);
        var deviceText = devices.Count == 1 ? $"device {devices[0]}"
            : devices.Count <= 5 ? $"{devices.Count} devices ({string.Join(", ", devices)})"
            : $"{devices.Count} devices";
        var filters = selection.Describe();
        return $"{keys.Length} hard frame{(keys.Length == 1 ? "" : "s")} from {deviceText}, captured {HardFrameSelection.Timestamp(oldest)} to {HardFrameSelection.Timestamp(newest)}" +
            $"{(filters.Length == 0 ? "" : ", selected by " + filters)}, newest first (database {database})";
    }
}

/// <summary>One stored hard frame's key and capture time.</summary>
public readonly record struct HardFrameKey(string DeviceId, long Sequence, DateTimeOffset CapturedAt);
