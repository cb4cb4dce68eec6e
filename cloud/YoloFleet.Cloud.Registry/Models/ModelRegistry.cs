using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Registry.Artifacts;
using YoloFleet.Cloud.Registry.Signing;
using YoloFleet.Inference;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cloud.Registry.Models;

/// <summary>What an upload did: the stored FP32 variant, and whether it is new (false: the same upload was stored before).</summary>
public sealed record UploadResult(ModelVersionView Version, bool Created);

/// <summary>A version of a model and its variants, as the API shows them.</summary>
public sealed record ModelVersionView(string Name, int Version, DateTimeOffset CreatedAt, IReadOnlyList<ModelVariantView> Variants);

/// <summary>One variant; <see cref="Manifest"/> and <see cref="Report"/> only in a version's detail.</summary>
public sealed record ModelVariantView(
    string Precision, string Sha256, long SizeBytes, string SigningKeyId, DateTimeOffset CreatedAt, long? JobId, JsonElement? Manifest, JsonElement? Report);

/// <summary>
/// The model registry: an upload of an FP32 ONNX model with its manifest becomes the next version of the model's name,
/// once the real <see cref="Detector"/> has opened the file with that manifest (so a manifest that contradicts its model
/// is refused with the detector's own message); the file goes to the artifact store by SHA-256 and the manifest, with
/// the version, the hash, the size and the creation time filled in, is signed.
/// </summary>
public sealed partial class ModelRegistry(
    ModelStore store, IArtifactStore artifacts, ManifestSigningKey signingKey, ModelRegistryOptions options, TimeProvider time, ILogger<ModelRegistry> logger)
{
    /// <summary>Model names: they appear in file names and topics' payloads, so they are kept plain.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= 128 } && char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>The file name a variant's manifest gives: "yolox_nano_416-3-int8.onnx".</summary>
    public static string FileNameOf(string name, int version, string precision) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}-{version}-{precision}.onnx");

    /// <summary>Validates, stores and signs an FP32 upload (see the class summary).</summary>
    /// <param name="manifestJson">The manifest: layout, input, preprocessing, classNames, thresholds... <c>version</c> is assigned here; <c>model</c> may be left out (it is filled in) or must match the file.</param>
    /// <exception cref="ModelRegistryException">The upload is refused; the message says why.</exception>
    public async Task<UploadResult> UploadAsync(Stream model, string manifestJson, string? uploadedFileName, CancellationToken cancellationToken = default)
    {
        var manifestNode = ParseManifestObject(manifestJson);
        var name = manifestNode["name"] is JsonValue nameValue && nameValue.TryGetValue<string>(out var text) ? text : null;
        if (!IsValidName(name))
        {
            throw Invalid($"The manifest's name '{name}' is not a model name: 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit.");
        }

        var work = Directory.CreateTempSubdirectory("yolofleet-upload-");
        try
        {
            var fileName = SafeFileName(uploadedFileName) ?? name + ".onnx";
            var path = Path.Combine(work.FullName, fileName);
            var (sha256, size) = await CopyAndHashAsync(model, path, cancellationToken);
            var manifest = CompleteManifest(manifestNode, name!, sha256, size);
            OpenWithDetector(path, fileName, manifest);

            // The file first: content addressing makes a repeated put harmless, and a row is never visible without its file.
            await using (var file = File.OpenRead(path))
            {
                await artifacts.PutAsync(file, cancellationToken);
            }

            var (row, created) = await store.InsertFp32Async(
                name!,
                sha256,
                size,
                newest => SameManifest(ModelManifest.Parse(Encoding.UTF8.GetBytes(newest.ManifestJson)), manifest),
                version => Sign(manifest with
                {
                    Version = version.ToString(CultureInfo.InvariantCulture),
                    Model = manifest.Model with { File = FileNameOf(name!, version, ModelStore.Fp32) },
                    CreatedAt = time.GetUtcNow(),
                }),
                cancellationToken: cancellationToken);
            if (created)
            {
                LogUploaded(row.Name, row.Version, row.Sha256, row.SizeBytes);
            }

            return new UploadResult(await GetVersionAsync(row.Name, row.Version, details: true, cancellationToken), created);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>A version and its variants.</summary>
    /// <exception cref="ModelRegistryException">No such model or version (NotFound).</exception>
    public async Task<ModelVersionView> GetVersionAsync(string name, int version, bool details, CancellationToken cancellationToken = default)
    {
        var rows = await store.VersionAsync(name, version, cancellationToken);
        return rows.Count == 0
            ? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"Model {name} has no version {version}.")
            : ToView(rows, details);
    }

    /// <summary>The newest version of <paramref name="name"/>.</summary>
    public async Task<int> LatestVersionAsync(string name, CancellationToken cancellationToken = default) =>
        await store.LatestVersionAsync(name, cancellationToken)
            ?? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"No model named '{name}' is registered (yolofleet models upload).");

    /// <summary>Versions, newest first per model; every model's, or one model's.</summary>
    public async Task<IReadOnlyList<ModelVersionView>> ListAsync(string? name, int limit = 500, CancellationToken cancellationToken = default)
    {
        var rows = await store.ListAsync(name, limit, cancellationToken);
        return [.. rows.GroupBy(row => (row.Name, row.Version)).Select(group => ToView([.. group], details: false))];
    }

    /// <summary>A page of versions in (name, version descending) order after <paramref name="after"/> (keyset); every model's, or one model's.</summary>
    public async Task<IReadOnlyList<ModelVersionView>> ListPageAsync(
        string? name, (string Name, int Version)? after, int limit, CancellationToken cancellationToken = default)
    {
        var rows = await store.ListPageAsync(name, after, limit, cancellationToken);
        return [.. rows.GroupBy(row => (row.Name, row.Version)).Select(group => ToView([.. group], details: false))];
    }

    /// <summary>Signs <paramref name="manifest"/> with the cloud's key and returns its JSON with the key's id.</summary>
    public SignedVariant Sign(ModelManifest manifest)
    {
        var signer = signingKey.Signer;
        return new SignedVariant(signer.Sign(manifest).ToJson(), signer.KeyId);
    }

    internal static ModelVersionView ToView(IReadOnlyList<ModelVariantRow> rows, bool details)
    {
        var first = rows[0];
        return new ModelVersionView(
            first.Name,
            first.Version,
            rows.Min(row => row.CreatedAt),
            [.. rows.OrderBy(row => row.Format == ModelStore.Fp32 ? 0 : 1).Select(row => new ModelVariantView(
                row.Format,
                row.Sha256,
                row.SizeBytes,
                row.SigningKeyId,
                row.CreatedAt,
                row.JobId,
                details ? JsonDocument.Parse(row.ManifestJson).RootElement.Clone() : null,
                details && row.ReportJson is { } report ? JsonDocument.Parse(report).RootElement.Clone() : null))]);
    }

    private static JsonObject ParseManifestObject(string manifestJson)
    {
        try
        {
            return JsonNode.Parse(manifestJson) as JsonObject
                ?? throw Invalid("The manifest is not a JSON object; see docs/registry.md for its fields.");
        }
        catch (JsonException ex)
        {
            throw Invalid($"The manifest is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>
    /// The uploaded manifest with what the registry decides filled in: schema version 1 unless given, precision fp32, the
    /// file's SHA-256 and size (a manifest that names others is refused), a placeholder version until one is assigned,
    /// and no signature (the cloud signs). An FP32 upload has no lineage.
    /// </summary>
    private static ModelManifest CompleteManifest(JsonObject node, string name, string sha256, long size)
    {
        if (node["model"] is JsonObject model)
        {
            if (model["sha256"] is JsonValue given && given.TryGetValue<string>(out var givenSha) && !string.Equals(givenSha, sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid($"The manifest's model.sha256 is {givenSha}, but the uploaded file's SHA-256 is {sha256}: the manifest was written for another file.");
            }

            if (model["sizeBytes"] is JsonValue givenSize && givenSize.TryGetValue<long>(out var bytes) && bytes != size)
            {
                throw Invalid($"The manifest's model.sizeBytes is {bytes}, but the uploaded file has {size} bytes.");
            }
        }

        if (node["precision"] is JsonValue precision && precision.TryGetValue<string>(out var precisionText) && precisionText != ModelStore.Fp32)
        {
            throw Invalid($"The manifest's precision is '{precisionText}': upload the FP32 model; the registry makes INT8 from it (yolofleet models quantize).");
        }

        if (node["lineage"] is not null)
        {
            throw Invalid("The manifest has a lineage: an uploaded FP32 model is an original; lineage is written by the registry for the INT8 it makes.");
        }

        node.Remove("signature");
        node["schemaVersion"] ??= ModelManifest.CurrentSchemaVersion;
        node["version"] = "0";
        node["precision"] = ModelStore.Fp32;
        node["model"] = new JsonObject { ["file"] = name + ".onnx", ["sha256"] = sha256, ["sizeBytes"] = size };
        try
        {
            return ModelManifest.Parse(Encoding.UTF8.GetBytes(node.ToJsonString()), "the uploaded manifest");
        }
        catch (ModelLoadException ex)
        {
            throw Invalid(ex.Message, ex);
        }
    }

    /// <summary>The model must open with its manifest in the real detector: the same check an agent makes before running it.</summary>
    private static void OpenWithDetector(string path, string fileName, ModelManifest manifest)
    {
        try
        {
            using var detector = Detector.Open(path, new DetectorOptions { IntraOpThreads = 1, LogLevel = OnnxRuntimeLogLevel.Error }, manifest);
        }
        catch (ModelLoadException ex)
        {
            // The detector names the temporary path; the operator knows the file by the name it was uploaded under.
            throw Invalid(ex.Message.Replace(Path.GetFullPath(path), fileName, StringComparison.Ordinal), ex);
        }
    }

    /// <summary>Two manifests of the same file say the same, apart from what the registry fills in per version.</summary>
    private static bool SameManifest(ModelManifest stored, ModelManifest uploaded)
    {
        static byte[] Comparable(ModelManifest manifest) => (manifest with
        {
            Version = "0",
            CreatedAt = null,
            Model = manifest.Model with { File = "" },
            Signature = null,
        }).CanonicalBytes();

        return Comparable(stored).AsSpan().SequenceEqual(Comparable(uploaded));
    }

    private async Task<(string Sha256, long Size)> CopyAndHashAsync(Stream model, string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long size = 0;
        int read;
        while ((read = await model.ReadAsync(buffer, cancellationToken)) > 0)
        {
            size += read;
            if (size > options.MaxUploadBytes)
            {
                throw new ModelRegistryException(RegistryErrorKind.TooLarge,
                    $"The model is larger than Cloud:Models:MaxUploadBytes ({options.MaxUploadBytes} bytes).");
            }

            hash.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        if (size == 0)
        {
            throw Invalid("The uploaded model is empty.");
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), size);
    }

    private static string? SafeFileName(string? uploaded)
    {
        var name = Path.GetFileName(uploaded ?? "");
        return name.Length is > 0 and <= 128 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') && !name.StartsWith('.') ? name : null;
    }

    private static ModelRegistryException Invalid(string message, Exception? inner = null) => new(RegistryErrorKind.Invalid, message, inner);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered {Name} version {Version} (FP32, SHA-256 {Sha256}, {Size} bytes)")]
    private partial void LogUploaded(string name, int version, string sha256, long size);
}
