using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Integration.Tests.Infrastructure;

/// <summary>
/// Plays the registry's signing half for tests: a fresh ECDSA P-256 key, manifests for model files (by path, hashed
/// where they lie), and ModelAssigned messages with signed variants. The public key goes into the agent's
/// Agent:Models:TrustedKeys (as PEM text or a file).
/// </summary>
public sealed class TestModelSigner : IDisposable
{
    private readonly ManifestSigner _signer = ManifestSigner.Generate();

    public string PublicKeyPem => _signer.PublicKeyPem;

    public string KeyId => _signer.KeyId;

    /// <summary>Writes the public key as a PEM file in <paramref name="folder"/> and returns its path.</summary>
    public string WritePublicKey(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "trusted-" + _signer.KeyId.Replace(':', '-') + ".pem");
        File.WriteAllText(path, PublicKeyPem);
        return path;
    }

    /// <summary>An unsigned manifest true to the file at <paramref name="modelPath"/>.</summary>
    public static ModelManifest ManifestFor(
        string modelPath, string version = "1.0.0", string? precision = "fp32", IReadOnlyList<string>? classNames = null, string? name = null)
    {
        var bytes = File.ReadAllBytes(modelPath);
        return new ModelManifest
        {
            SchemaVersion = ModelManifest.CurrentSchemaVersion,
            Name = name ?? Path.GetFileNameWithoutExtension(modelPath),
            Version = version,
            Model = new ManifestModelFile
            {
                File = Path.GetFileName(modelPath),
                Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                SizeBytes = bytes.Length,
            },
            Precision = precision,
            ClassNames = classNames,
            CreatedAt = new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero),
        };
    }

    /// <summary>The manifest signed by this key, as the JSON bytes a variant carries.</summary>
    public byte[] SignedJson(ModelManifest manifest) => Encoding.UTF8.GetBytes(_signer.Sign(manifest).ToJson());

    /// <summary>The manifest without any signature, as JSON bytes.</summary>
    public static byte[] UnsignedJson(ModelManifest manifest) => Encoding.UTF8.GetBytes((manifest with { Signature = null }).ToJson());

    public static ModelVariant Variant(byte[] manifestJson, Uri downloadUrl) =>
        new() { ManifestJson = ByteString.CopyFrom(manifestJson), DownloadUrl = downloadUrl.ToString() };

    /// <summary>A ModelAssigned; <paramref name="selectedSha256"/> empty asks the agent to benchmark the variants first.</summary>
    public static ModelAssigned Assignment(
        string assignmentId, string selectedSha256, IEnumerable<ModelVariant> variants, string slot = "active", float maxLatencyMs = 0, string modelVersion = "")
    {
        var assignment = new ModelAssigned
        {
            SchemaVersion = SchemaVersions.Current,
            AssignmentId = assignmentId,
            ModelVersion = modelVersion,
            Slot = slot,
            SelectedSha256 = selectedSha256,
            AssignedAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            MaxLatencyMs = maxLatencyMs,
        };
        assignment.Variants.AddRange(variants);
        return assignment;
    }

    /// <summary>The SHA-256 of a file, 64 lower-case hex digits.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public void Dispose() => _signer.Dispose();
}
