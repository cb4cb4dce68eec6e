using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace YoloFleet.Inference.Manifest;

/// <summary>
/// A model's manifest: which file it describes (by SHA-256), and everything the detector would otherwise infer
/// (layout, input size, preprocessing, class names, thresholds), plus identity fields the cloud versions and signs.
/// It sits beside the model as <c>&lt;model file name&gt;.manifest.json</c> or is passed to
/// <see cref="Detector.Open"/>. JSON, camelCase; unknown properties are refused, so a typo cannot slip past the
/// signature. Only <c>schemaVersion</c>, <c>name</c>, <c>version</c> and <c>model</c> are required; every other
/// section overrides what the detector infers, and what it leaves out stays inferred.
/// <para>
/// The canonical form (<see cref="CanonicalBytes"/>) is what a signer signs: this record serialised by
/// System.Text.Json without <see cref="Signature"/>, properties in the order declared here (fixed by
/// <see cref="JsonPropertyOrderAttribute"/>), absent values omitted, no white space, UTF-8. It depends on the values,
/// not on the file's formatting or property order.
/// </para>
/// </summary>
public sealed record ModelManifest
{
    public const int CurrentSchemaVersion = 1;

    /// <summary>A manifest beside its model is named after the whole model file name: "yolox_nano_416.onnx.manifest.json".</summary>
    public const string FileSuffix = ".manifest.json";

    [JsonPropertyOrder(0)]
    public required int SchemaVersion { get; init; }

    /// <summary>The model's name in the fleet, e.g. "yolox_nano_416".</summary>
    [JsonPropertyOrder(1)]
    public required string Name { get; init; }

    /// <summary>The manifest's version of this model, e.g. "1.0.0"; the cloud orders rollouts by it.</summary>
    [JsonPropertyOrder(2)]
    public required string Version { get; init; }

    [JsonPropertyOrder(3)]
    public required ManifestModelFile Model { get; init; }

    /// <summary>The output layout (yolox, yolov5, yolov8, yolov10, picodet-gfl); absent, it is recognised from the outputs.</summary>
    [JsonPropertyOrder(4)]
    public string? Layout { get; init; }

    /// <summary>The input size; it must equal a fixed model input, and gives the size of a dynamic one.</summary>
    [JsonPropertyOrder(5)]
    public ManifestInput? Input { get; init; }

    /// <summary>"fp32" or "int8".</summary>
    [JsonPropertyOrder(6)]
    public string? Precision { get; init; }

    [JsonPropertyOrder(7)]
    public ManifestPreprocessing? Preprocessing { get; init; }

    /// <summary>One name per class, in class-id order; the count must equal the model's class count.</summary>
    [JsonPropertyOrder(8)]
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>Defaults for the detector's thresholds; a <see cref="DetectorOptions"/> threshold the caller set wins.</summary>
    [JsonPropertyOrder(9)]
    public ManifestThresholds? Thresholds { get; init; }

    [JsonPropertyOrder(10)]
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>Where the weights come from (repository, commit, training run).</summary>
    [JsonPropertyOrder(11)]
    public string? Source { get; init; }

    /// <summary>The weights' licence, as text.</summary>
    [JsonPropertyOrder(12)]
    public string? Licence { get; init; }

    /// <summary>Where a derived model (an INT8 quantization) comes from: its parent, calibration frames and settings.</summary>
    [JsonPropertyOrder(13)]
    public ManifestLineage? Lineage { get; init; }

    /// <summary>A detached signature over <see cref="CanonicalBytes"/>; not itself part of them.</summary>
    [JsonPropertyOrder(14)]
    public ManifestSignature? Signature { get; init; }

    /// <summary>The file this manifest was loaded from; null when it was built or parsed in memory. Not serialised.</summary>
    [JsonIgnore]
    public string? SourcePath { get; init; }

    /// <summary>Where <see cref="Detector.Open"/> looks for a model's manifest: "&lt;model path&gt;.manifest.json".</summary>
    public static string PathBeside(string modelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        return Path.GetFullPath(modelPath) + FileSuffix;
    }

    /// <summary>Reads and checks a manifest file on its own (against its model, <see cref="Detector.Open"/> checks it).</summary>
    /// <exception cref="ModelLoadException">The file is missing, is not valid JSON, or has a bad or missing field; the message names the file and the field.</exception>
    public static ModelManifest Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        byte[] json;
        try
        {
            json = File.ReadAllBytes(fullPath);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ModelLoadException($"Model manifest not found: '{fullPath}'.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelLoadException($"The model manifest '{fullPath}' could not be read: {ex.Message}", ex);
        }

        return Parse(json, fullPath) with { SourcePath = fullPath };
    }

    /// <summary>Reads and checks a manifest from UTF-8 JSON; <paramref name="sourceName"/> names it in errors.</summary>
    /// <exception cref="ModelLoadException">It is not valid JSON, or has a bad or missing field.</exception>
    public static ModelManifest Parse(ReadOnlySpan<byte> utf8Json, string sourceName = "(in memory)")
    {
        // Editors on Windows like to start UTF-8 files with a byte order mark, which JSON does not allow.
        if (utf8Json.StartsWith(Encoding.UTF8.Preamble))
        {
            utf8Json = utf8Json[Encoding.UTF8.Preamble.Length..];
        }

        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(utf8Json, ModelManifestJsonContext.Default.ModelManifest);
        }
        catch (JsonException ex)
        {
            throw new ModelLoadException(
                $"The model manifest '{sourceName}' could not be read at {ex.Path ?? "$"} (line {ex.LineNumber + 1}): {ex.Message}", ex);
        }

        if (manifest is null)
        {
            throw new ModelLoadException($"The model manifest '{sourceName}' is JSON null; expected an object with schemaVersion, name, version and model.");
        }

        manifest.Validate(sourceName);
        return manifest;
    }

    /// <summary>
    /// The bytes a signer signs and a verifier checks: this manifest without <see cref="Signature"/>, serialised in
    /// the fixed property order with absent values omitted, no white space, UTF-8 (System.Text.Json's default escaping).
    /// </summary>
    public byte[] CanonicalBytes() =>
        JsonSerializer.SerializeToUtf8Bytes(this with { Signature = null }, ModelManifestJsonContext.Default.ModelManifest);

    /// <summary>Indented JSON for writing a manifest file, signature included.</summary>
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            JsonSerializer.Serialize(writer, this, ModelManifestJsonContext.Default.ModelManifest);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Checks every field on its own; the checks against the model file happen when a detector opens it.</summary>
    /// <exception cref="ModelLoadException">Lists every bad field.</exception>
    public void Validate(string sourceName = "(in memory)")
    {
        var problems = new List<string>();
        if (SchemaVersion != CurrentSchemaVersion)
        {
            problems.Add($"schemaVersion is {SchemaVersion}; this library reads schema version {CurrentSchemaVersion}");
        }

        RequireText(problems, "name", Name);
        RequireText(problems, "version", Version);
        Model?.Validate(problems);
        if (Model is null)
        {
            problems.Add("model is missing; give {\"file\", \"sha256\", \"sizeBytes\"}");
        }

        if (Layout is not null && !Layouts.ModelLayouts.IsKnown(Layout))
        {
            problems.Add($"layout is '{Layout}'; expected one of {string.Join(", ", Layouts.ModelLayouts.Names)}");
        }

        Input?.Validate(problems);
        if (Precision is not null && ParsePrecision(Precision) is null)
        {
            problems.Add($"precision is '{Precision}'; expected 'fp32' or 'int8'");
        }

        Preprocessing?.Validate(problems);
        if (ClassNames is not null)
        {
            if (ClassNames.Count == 0)
            {
                problems.Add("classNames is empty; list one name per class, or leave it out");
            }

            for (var i = 0; i < ClassNames.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(ClassNames[i]))
                {
                    problems.Add($"classNames[{i}] is empty");
                }
            }
        }

        Thresholds?.Validate(problems);
        Lineage?.Validate(problems);
        Signature?.Validate(problems);

        if (problems.Count > 0)
        {
            throw new ModelLoadException($"The model manifest '{sourceName}' is invalid: {string.Join("; ", problems)}.");
        }
    }

    internal static ModelPrecision? ParsePrecision(string? precision) => precision switch
    {
        "fp32" => ModelPrecision.Fp32,
        "int8" => ModelPrecision.Int8,
        _ => null,
    };

    internal static void RequireText(List<string> problems, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            problems.Add($"{field} is missing or empty");
        }
    }
}

/// <summary>The model file a manifest describes. The SHA-256 identifies it; the name is informational.</summary>
public sealed record ManifestModelFile
{
    /// <summary>The file name (no folders), e.g. "yolox_nano_416.onnx".</summary>
    [JsonPropertyOrder(0)]
    public required string File { get; init; }

    /// <summary>The file's SHA-256, 64 hex digits.</summary>
    [JsonPropertyOrder(1)]
    public required string Sha256 { get; init; }

    [JsonPropertyOrder(2)]
    public required long SizeBytes { get; init; }

    internal void Validate(List<string> problems)
    {
        ModelManifest.RequireText(problems, "model.file", File);
        if (File is not null && (File.Contains('/') || File.Contains('\\')))
        {
            problems.Add($"model.file is '{File}'; give the file name only, without folders");
        }

        if (Sha256 is null || Sha256.Length != 64 || !Sha256.All(char.IsAsciiHexDigit))
        {
            problems.Add($"model.sha256 is '{Sha256}'; expected the file's SHA-256 as 64 hex digits");
        }

        if (SizeBytes <= 0)
        {
            problems.Add($"model.sizeBytes is {SizeBytes}; expected the file's size in bytes");
        }
    }
}

/// <summary>The model input's size in pixels.</summary>
public sealed record ManifestInput
{
    [JsonPropertyOrder(0)]
    public required int Width { get; init; }

    [JsonPropertyOrder(1)]
    public required int Height { get; init; }

    internal void Validate(List<string> problems)
    {
        if (Width is < 1 or > 16384 || Height is < 1 or > 16384)
        {
            problems.Add($"input is {Width} x {Height}; width and height must be 1..16384");
        }
    }
}

/// <summary>
/// How a BGR frame becomes the model's input; each value is <c>(pixel * scale - mean[c]) / std[c]</c> in the model's
/// channel order. A field left out keeps the layout's own recipe.
/// </summary>
public sealed record ManifestPreprocessing
{
    /// <summary>"rgb" or "bgr": the colour in the model's first channel.</summary>
    [JsonPropertyOrder(0)]
    public string? ChannelOrder { get; init; }

    /// <summary>Multiplies the 0..255 pixel first: 1 for raw values, 0.00392156... (1/255) for 0..1.</summary>
    [JsonPropertyOrder(1)]
    public float? Scale { get; init; }

    [JsonPropertyOrder(2)]
    public IReadOnlyList<float>? Mean { get; init; }

    [JsonPropertyOrder(3)]
    public IReadOnlyList<float>? Std { get; init; }

    /// <summary>"letterbox" (keep the aspect, pad) or "stretch".</summary>
    [JsonPropertyOrder(4)]
    public string? Resize { get; init; }

    /// <summary>The padding's pixel value, 0..255, before normalisation.</summary>
    [JsonPropertyOrder(5)]
    public int? PadValue { get; init; }

    /// <summary>"topLeft" (YOLOX) or "center" (Ultralytics).</summary>
    [JsonPropertyOrder(6)]
    public string? PadPlacement { get; init; }

    internal void Validate(List<string> problems)
    {
        if (ChannelOrder is not null and not ("rgb" or "bgr"))
        {
            problems.Add($"preprocessing.channelOrder is '{ChannelOrder}'; expected 'rgb' or 'bgr'");
        }

        if (Scale is { } scale && !(float.IsFinite(scale) && scale > 0f))
        {
            problems.Add($"preprocessing.scale is {scale}; expected a positive number");
        }

        CheckChannels(problems, "preprocessing.mean", Mean, value => float.IsFinite(value), "finite numbers");
        CheckChannels(problems, "preprocessing.std", Std, value => float.IsFinite(value) && value > 0f, "positive numbers");
        if (Resize is not null and not ("letterbox" or "stretch"))
        {
            problems.Add($"preprocessing.resize is '{Resize}'; expected 'letterbox' or 'stretch'");
        }

        if (PadValue is < 0 or > 255)
        {
            problems.Add($"preprocessing.padValue is {PadValue}; expected 0..255");
        }

        if (PadPlacement is not null and not ("topLeft" or "center"))
        {
            problems.Add($"preprocessing.padPlacement is '{PadPlacement}'; expected 'topLeft' or 'center'");
        }
    }

    /// <summary>The layout's recipe with the fields this manifest gives replaced.</summary>
    internal Preprocessing.PreprocessSpec ApplyTo(Preprocessing.PreprocessSpec layoutDefault) => layoutDefault with
    {
        ChannelOrder = ChannelOrder switch
        {
            "rgb" => Preprocessing.ChannelOrder.Rgb,
            "bgr" => Preprocessing.ChannelOrder.Bgr,
            _ => layoutDefault.ChannelOrder,
        },
        Scale = Scale ?? layoutDefault.Scale,
        Mean = Mean is [var mean0, var mean1, var mean2] ? new Preprocessing.ChannelValues(mean0, mean1, mean2) : layoutDefault.Mean,
        Std = Std is [var std0, var std1, var std2] ? new Preprocessing.ChannelValues(std0, std1, std2) : layoutDefault.Std,
        Resize = Resize switch
        {
            "letterbox" => Preprocessing.ResizeMode.Letterbox,
            "stretch" => Preprocessing.ResizeMode.Stretch,
            _ => layoutDefault.Resize,
        },
        PadValue = PadValue is { } pad ? (byte)pad : layoutDefault.PadValue,
        PadPlacement = PadPlacement switch
        {
            "topLeft" => Preprocessing.PadPlacement.TopLeft,
            "center" => Preprocessing.PadPlacement.Center,
            _ => layoutDefault.PadPlacement,
        },
    };

    private static void CheckChannels(List<string> problems, string field, IReadOnlyList<float>? values, Func<float, bool> valid, string expected)
    {
        if (values is not null && (values.Count != 3 || !values.All(valid)))
        {
            problems.Add($"{field} is [{string.Join(", ", values)}]; expected 3 {expected}, one per channel in the model's channel order");
        }
    }
}

/// <summary>Threshold defaults; a field left out keeps the built-in default (<see cref="DetectionThresholds.Default"/>).</summary>
public sealed record ManifestThresholds
{
    [JsonPropertyOrder(0)]
    public float? Confidence { get; init; }

    [JsonPropertyOrder(1)]
    public float? NmsIou { get; init; }

    [JsonPropertyOrder(2)]
    public int? MaxDetections { get; init; }

    [JsonPropertyOrder(3)]
    public bool? ClassAgnostic { get; init; }

    /// <summary>These thresholds over the built-in defaults.</summary>
    public DetectionThresholds ToThresholds() => new(
        Confidence ?? DetectionThresholds.Default.Confidence,
        NmsIou ?? DetectionThresholds.Default.NmsIou,
        MaxDetections ?? DetectionThresholds.Default.MaxDetections,
        ClassAgnostic ?? DetectionThresholds.Default.ClassAgnostic);

    internal void Validate(List<string> problems)
    {
        if (Confidence is { } confidence && !(confidence is >= 0f and <= 1f))
        {
            problems.Add($"thresholds.confidence is {confidence}; expected 0..1");
        }

        if (NmsIou is { } iou && !(iou is >= 0f and <= 1f))
        {
            problems.Add($"thresholds.nmsIou is {iou}; expected 0..1");
        }

        if (MaxDetections is < 1)
        {
            problems.Add($"thresholds.maxDetections is {MaxDetections}; expected at least 1");
        }
    }
}

/// <summary>
/// Where a derived model comes from, so that any INT8 file can be traced to the FP32 model, the frames it was calibrated
/// on and the settings used; the same lineage reproduces the same file (the quantizer is deterministic).
/// </summary>
public sealed record ManifestLineage
{
    /// <summary>The SHA-256 of the model this one was derived from (the FP32 parent).</summary>
    [JsonPropertyOrder(0)]
    public required string ParentSha256 { get; init; }

    /// <summary>The parent's name and version, for people ("yolox_nano_416@1").</summary>
    [JsonPropertyOrder(1)]
    public string? ParentVersion { get; init; }

    /// <summary>What made it: "yolofleet-quantizer".</summary>
    [JsonPropertyOrder(2)]
    public string? Tool { get; init; }

    /// <summary>The settings that made it, as sorted "name=value" strings.</summary>
    [JsonPropertyOrder(3)]
    public IReadOnlyList<string>? Settings { get; init; }

    [JsonPropertyOrder(4)]
    public ManifestCalibration? Calibration { get; init; }

    internal void Validate(List<string> problems)
    {
        if (ParentSha256 is null || ParentSha256.Length != 64 || !ParentSha256.All(char.IsAsciiHexDigit))
        {
            problems.Add($"lineage.parentSha256 is '{ParentSha256}'; expected the parent model's SHA-256 as 64 hex digits");
        }

        Calibration?.Validate(problems);
    }
}

/// <summary>The calibration frames of a quantization, by content.</summary>
public sealed record ManifestCalibration
{
    /// <summary>"hard-frames" (the fleet's stored hard frames) or "folder" (an image folder).</summary>
    [JsonPropertyOrder(0)]
    public required string Source { get; init; }

    /// <summary>How many frames were used.</summary>
    [JsonPropertyOrder(1)]
    public required int Frames { get; init; }

    /// <summary>SHA-256 over the frames' own SHA-256s in the order used (hex, each followed by '\n').</summary>
    [JsonPropertyOrder(2)]
    public required string FramesSha256 { get; init; }

    /// <summary>The frames' ids where they have one (hard frame ids, file names); may be left out for large sets.</summary>
    [JsonPropertyOrder(3)]
    public IReadOnlyList<string>? FrameIds { get; init; }

    internal void Validate(List<string> problems)
    {
        ModelManifest.RequireText(problems, "lineage.calibration.source", Source);
        if (Frames < 0)
        {
            problems.Add($"lineage.calibration.frames is {Frames}; expected a count");
        }

        if (FramesSha256 is null || FramesSha256.Length != 64 || !FramesSha256.All(char.IsAsciiHexDigit))
        {
            problems.Add($"lineage.calibration.framesSha256 is '{FramesSha256}'; expected 64 hex digits");
        }
    }
}

/// <summary>A detached signature over <see cref="ModelManifest.CanonicalBytes"/>; <see cref="ManifestSigner"/> makes it and <see cref="ManifestTrust"/> checks it.</summary>
public sealed record ManifestSignature
{
    /// <summary>E.g. "ed25519" or "ecdsa-p256-sha256".</summary>
    [JsonPropertyOrder(0)]
    public required string Algorithm { get; init; }

    /// <summary>Which key signed, so a verifier can pick the public key.</summary>
    [JsonPropertyOrder(1)]
    public string? KeyId { get; init; }

    /// <summary>The signature, base64.</summary>
    [JsonPropertyOrder(2)]
    public required string Value { get; init; }

    internal void Validate(List<string> problems)
    {
        ModelManifest.RequireText(problems, "signature.algorithm", Algorithm);
        ModelManifest.RequireText(problems, "signature.value", Value);
    }
}

/// <summary>System.Text.Json metadata for manifests, generated at build time (no reflection, trimming-safe).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ModelManifest))]
internal sealed partial class ModelManifestJsonContext : JsonSerializerContext;
