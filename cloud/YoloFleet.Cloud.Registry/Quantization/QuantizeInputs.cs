using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>One calibration or held-out frame by id ("pi-1:17" for a hard frame, a file name for a folder image) and content.</summary>
public sealed record FrameReference(string Id, string Sha256);

/// <summary>Where a job's frames come from and which they are, in the order used (by content hash).</summary>
/// <param name="Source">"hard-frames" or "folder".</param>
/// <param name="Folder">For "folder": the folder the files are read from (not part of the inputs' identity: content is).</param>
public sealed record FrameSet(string Source, string? Folder, IReadOnlyList<FrameReference> Frames)
{
    public const string HardFrames = "hard-frames";
    public const string FolderSource = "folder";

    /// <summary>SHA-256 over the frames' SHA-256s in order, each followed by '\n' (ManifestCalibration.FramesSha256).</summary>
    public string FramesSha256() =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(string.Concat(Frames.Select(frame => frame.Sha256 + "\n")))));
}

/// <summary>
/// Everything that decides a quantize job's output: the version it is for, the FP32 parent (by hash), the quantizer's
/// settings, and the calibration and held-out frames (by content hash). <see cref="Key"/> hashes them: the same inputs
/// give the same key, hence the same job; and the quantizer, being deterministic, makes the same INT8 file from the
/// same parent, settings and calibration frames, whichever version it is for.
/// </summary>
public sealed record QuantizeInputs(
    string Model,
    int Version,
    string ParentSha256,
    string Tool,
    IReadOnlyList<string> Settings,
    FrameSet Calibration,
    FrameSet HeldOut)
{
    public const string QuantizerTool = "yolofleet-quantizer";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>SHA-256 (hex) of the version, parent, tool, settings and frame hashes; where frames are read from does not count.</summary>
    public string Key()
    {
        var identity = new StringBuilder()
            .Append("model=").Append(Model).Append('\n')
            .Append("version=").Append(Version.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("parent=").Append(ParentSha256).Append('\n')
            .Append("tool=").Append(Tool).Append('\n');
        foreach (var setting in Settings)
        {
            identity.Append("setting=").Append(setting).Append('\n');
        }

        foreach (var (label, set) in new[] { ("calibration", Calibration), ("held-out", HeldOut) })
        {
            identity.Append(label).Append('=').Append(set.Source).Append('\n');
            foreach (var frame in set.Frames)
            {
                identity.Append(frame.Sha256).Append('\n');
            }
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity.ToString())));
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static QuantizeInputs FromJson(string json) =>
        JsonSerializer.Deserialize<QuantizeInputs>(json, Json) ?? throw new JsonException("Quantize inputs are JSON null.");

    /// <summary>
    /// The quantizer's options as sorted "name=value" strings, read from the options object itself, so that a setting
    /// added to <see cref="QuantizerOptions"/> (or a changed default) enters the lineage and the job key by itself.
    /// </summary>
    public static IReadOnlyList<string> SettingsOf(QuantizerOptions options, int calibrationFrames, string accuracyGuard)
    {
        var settings = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"calibrationFrames={calibrationFrames}"),
            "accuracyGuard=" + accuracyGuard,
        };
        foreach (var property in typeof(QuantizerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
                     .Where(p => p.CanRead && p.Name != nameof(QuantizerOptions.AccuracyCheck)))
        {
            var name = char.ToLowerInvariant(property.Name[0]) + property.Name[1..];
            settings.Add(name + "=" + Format(property.GetValue(options)));
        }

        settings.Sort(StringComparer.Ordinal);
        return settings;
    }

    /// <summary>
    /// Which accuracy guard a job on these frames runs (QuantizeJobRunner chooses the same way): held-out mAP on a
    /// labelled fallback folder, else agreement with FP32 on the held-out frames; with its threshold.
    /// </summary>
    public static string GuardSetting(FrameSet calibration) =>
        calibration is { Source: FrameSet.FolderSource, Folder: { } folder } && QuantizationEvaluation.HasLabels(folder)
            ? string.Create(CultureInfo.InvariantCulture, $"held-out-map:{HeldOutMeanApCheck.DefaultGuard}")
            : string.Create(CultureInfo.InvariantCulture, $"fp32-agreement:{FloatAgreementCheck.DefaultGuard}");

    private static string Format(object? value) => value switch
    {
        null => "",
        string text => text,
        double number => number.ToString("R", CultureInfo.InvariantCulture),
        float number => number.ToString("R", CultureInfo.InvariantCulture),
        bool flag => flag ? "true" : "false",
        Enum member => member.ToString().ToLowerInvariant(),
        IEnumerable<string> list => string.Join(',', list),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
