using System.Globalization;
using System.Security.Cryptography;
using Npgsql;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Inference;
using YoloFleet.Inference.Benchmarking;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>A frame's bytes (JPEG, or an image file's), checked against its reference's hash.</summary>
public sealed record EncodedFrame(FrameReference Reference, byte[] Bytes);

/// <summary>
/// Chooses and loads a quantize job's frames. The fleet's newest hard frames (PostgreSQL, as
/// <c>yolofleet quantize --calib-hard-frames</c> reads them) are split by content hash into calibration and held-out
/// frames; when too few are left for calibration, an image folder takes their place, split the same way. The split
/// and the order depend on the bytes alone, so the same frames give the same job wherever and whenever it is planned.
/// </summary>
public sealed class CalibrationFrames(NpgsqlDataSource dataSource, ModelRegistryOptions options)
{
    /// <summary>Frames whose content hash starts below this byte are held out: a quarter of them.</summary>
    private const byte HeldOutBelow = 0x40;

    /// <summary>The calibration and held-out frames a job submitted now would use.</summary>
    /// <exception cref="ModelRegistryException">Too few hard frames and no usable fallback folder.</exception>
    public async Task<(FrameSet Calibration, FrameSet HeldOut)> PlanAsync(CancellationToken cancellationToken = default)
    {
        var hardFrames = await HardFrameHashesAsync(cancellationToken);
        var (calibration, heldOut) = Split(hardFrames);
        if (calibration.Count >= options.MinHardFrames && heldOut.Count > 0)
        {
            return (new FrameSet(FrameSet.HardFrames, null, [.. calibration.Take(options.CalibrationFrames)]),
                    new FrameSet(FrameSet.HardFrames, null, [.. heldOut.Take(options.HeldOutFrames)]));
        }

        var folder = FallbackFolder(hardFrames.Count);
        var files = BenchmarkImages.ImageFilesIn(folder).ToList();
        var references = new List<FrameReference>(files.Count);
        foreach (var file in files)
        {
            references.Add(new FrameReference(Path.GetFileName(file), Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file, cancellationToken)))));
        }

        (calibration, heldOut) = Split(references);
        if (calibration.Count == 0 || heldOut.Count == 0)
        {
            throw new ModelRegistryException(RegistryErrorKind.Conflict,
                $"The fleet has {hardFrames.Count} hard frames (fewer than Cloud:Models:MinHardFrames = {options.MinHardFrames} for calibration), " +
                $"and the fallback folder '{folder}' holds {files.Count} images, too few to split into calibration and held-out frames.");
        }

        return (new FrameSet(FrameSet.FolderSource, folder, [.. calibration.Take(options.CalibrationFrames)]),
                new FrameSet(FrameSet.FolderSource, folder, [.. heldOut.Take(options.HeldOutFrames)]));
    }

    /// <summary>
    /// Splits frames by content hash: those whose hash starts below 0x40 are held out (a quarter), the rest calibrate;
    /// each part ordered by hash, duplicates (the same bytes twice) kept once. With nothing held out by that rule, the
    /// calibration frame with the highest hash is held out, so there is always something to compare on.
    /// </summary>
    public static (List<FrameReference> Calibration, List<FrameReference> HeldOut) Split(IEnumerable<FrameReference> frames)
    {
        var unique = frames.GroupBy(frame => frame.Sha256, StringComparer.Ordinal)
            .Select(group => group.OrderBy(frame => frame.Id, StringComparer.Ordinal).First())
            .OrderBy(frame => frame.Sha256, StringComparer.Ordinal)
            .ToList();
        var heldOut = unique.Where(frame => byte.Parse(frame.Sha256.AsSpan(0, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) < HeldOutBelow).ToList();
        var calibration = unique.Except(heldOut).ToList();
        if (heldOut.Count == 0 && calibration.Count >= 2)
        {
            heldOut.Add(calibration[^1]);
            calibration.RemoveAt(calibration.Count - 1);
        }

        return (calibration, heldOut);
    }

    /// <summary>Reads the frames' bytes and checks each against its hash.</summary>
    /// <exception cref="InvalidDataException">A frame is gone or its bytes changed since the job was planned.</exception>
    public async Task<IReadOnlyList<EncodedFrame>> LoadAsync(FrameSet set, CancellationToken cancellationToken = default)
    {
        var frames = new List<EncodedFrame>(set.Frames.Count);
        foreach (var reference in set.Frames)
        {
            var bytes = set.Source == FrameSet.HardFrames
                ? await HardFrameJpegAsync(reference.Id, cancellationToken)
                : await FolderFileAsync(set.Folder!, reference.Id, cancellationToken);
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (sha256 != reference.Sha256)
            {
                throw new InvalidDataException($"Frame {reference.Id} changed since the job was planned (SHA-256 {sha256}, planned {reference.Sha256}); submit the job again.");
            }

            frames.Add(new EncodedFrame(reference, bytes));
        }

        return frames;
    }

    /// <summary>The id a hard frame has in a job's inputs and lineage: "device:sequence".</summary>
    public static string HardFrameId(string deviceId, long sequence) => string.Create(CultureInfo.InvariantCulture, $"{deviceId}:{sequence}");

    private string FallbackFolder(int hardFrames)
    {
        string folder;
        try
        {
            folder = options.FallbackCalibrationFolder is { Length: > 0 } configured ? Path.GetFullPath(configured) : SharedData.Coco128Images;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ModelRegistryException(RegistryErrorKind.Conflict,
                $"The fleet has {hardFrames} hard frames, fewer than Cloud:Models:MinHardFrames = {options.MinHardFrames}, and there is no fallback image folder: {ex.Message} " +
                "Set Cloud:Models:FallbackCalibrationFolder.", ex);
        }

        return Directory.Exists(folder)
            ? folder
            : throw new ModelRegistryException(RegistryErrorKind.Conflict,
                $"The fleet has {hardFrames} hard frames, fewer than Cloud:Models:MinHardFrames = {options.MinHardFrames}, and the fallback folder '{folder}' (Cloud:Models:FallbackCalibrationFolder) does not exist.");
    }

    private async Task<List<FrameReference>> HardFrameHashesAsync(CancellationToken cancellationToken)
    {
        // The hashes are computed by PostgreSQL: the JPEGs stay in the database until the job runs.
        await using var command = dataSource.CreateCommand("""
            SELECT device_id, sequence, encode(sha256(jpeg), 'hex') FROM hard_frames
            ORDER BY captured_at DESC, device_id, sequence LIMIT $1
            """);
        command.Parameters.AddWithValue(options.HardFrameWindow);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var frames = new List<FrameReference>();
        while (await reader.ReadAsync(cancellationToken))
        {
            frames.Add(new FrameReference(HardFrameId(reader.GetString(0), reader.GetInt64(1)), reader.GetString(2)));
        }

        return frames;
    }

    private async Task<byte[]> HardFrameJpegAsync(string id, CancellationToken cancellationToken)
    {
        var colon = id.LastIndexOf(':');
        if (colon <= 0 || !long.TryParse(id.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            throw new InvalidDataException($"'{id}' is not a hard frame id (device:sequence).");
        }

        await using var command = dataSource.CreateCommand("SELECT jpeg FROM hard_frames WHERE device_id = $1 AND sequence = $2");
        command.Parameters.AddWithValue(id[..colon]);
        command.Parameters.AddWithValue(sequence);
        return await command.ExecuteScalarAsync(cancellationToken) as byte[]
            ?? throw new InvalidDataException($"Hard frame {id} is no longer stored (deleted by retention since the job was planned); submit the job again.");
    }

    private static async Task<byte[]> FolderFileAsync(string folder, string name, CancellationToken cancellationToken)
    {
        var path = Path.Combine(folder, Path.GetFileName(name));
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidDataException($"Calibration image '{path}' is gone since the job was planned; submit the job again.", ex);
        }
    }
}
