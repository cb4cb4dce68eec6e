using System.Security.Cryptography;

namespace YoloFleet.Inference.Manifest;

/// <summary>
/// Signs model manifests with an ECDSA P-256 key (SHA-256, IEEE P1363 r‖s signature, base64). The signature covers
/// <see cref="ModelManifest.CanonicalBytes"/>, which name the model file's SHA-256 and size, so one signature vouches
/// for the manifest and, through the hash, for the file. The cloud holds the private key; agents pin the public keys
/// (<see cref="ManifestTrust"/>). See docs/registry.md for key rotation.
/// </summary>
public sealed class ManifestSigner : IDisposable
{
    public const string Algorithm = "ecdsa-p256-sha256";

    private readonly ECDsa _key;

    private ManifestSigner(ECDsa key)
    {
        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new ArgumentException($"The signing key is a {key.KeySize}-bit curve; manifests are signed with ECDSA P-256.");
        }

        _key = key;
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
        KeyId = ManifestTrust.KeyIdOf(key.ExportSubjectPublicKeyInfo());
    }

    /// <summary>The key's id, carried in every signature: "p256:" and the first 16 hex digits of the SHA-256 of its public key.</summary>
    public string KeyId { get; }

    /// <summary>The public key (SubjectPublicKeyInfo PEM) that agents pin in <c>Agent:Models:TrustedKeys</c>.</summary>
    public string PublicKeyPem { get; }

    /// <summary>A new random P-256 key.</summary>
    public static ManifestSigner Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>A signer from a PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY").</summary>
    /// <exception cref="ArgumentException">The text holds no usable EC private key.</exception>
    public static ManifestSigner FromPem(string privateKeyPem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(privateKeyPem);
            _ = key.ExportParameters(includePrivateParameters: true);
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            throw new ArgumentException($"The signing key is not an ECDSA P-256 private key in PEM: {ex.Message}", nameof(privateKeyPem), ex);
        }

        return new ManifestSigner(key);
    }

    /// <summary>The private key as PKCS#8 PEM, to be stored with owner-only permissions.</summary>
    public string ExportPrivateKeyPem() => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>The manifest with a fresh signature over its canonical bytes (any signature it had is replaced).</summary>
    public ModelManifest Sign(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        manifest.Validate();
        var signature = _key.SignData(manifest.CanonicalBytes(), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return manifest with
        {
            Signature = new ManifestSignature { Algorithm = Algorithm, KeyId = KeyId, Value = Convert.ToBase64String(signature) },
        };
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>Why a manifest or its model file was refused. <see cref="Code"/> is what agents report to the cloud.</summary>
public sealed record ManifestRejection(string Code, string Detail)
{
    public const string Unsigned = "unsigned";
    public const string UnknownKey = "unknown-key";
    public const string BadSignature = "bad-signature";
    public const string HashMismatch = "hash-mismatch";
    public const string SizeMismatch = "size-mismatch";
    public const string BadManifest = "bad-manifest";

    public override string ToString() => $"{Code}: {Detail}";
}

/// <summary>
/// The public keys an agent trusts, pinned in its configuration. Several may be trusted at once, which is how a key is
/// rotated: agents first learn the new key beside the old, the cloud then signs with the new one, and only after that
/// is the old key removed (docs/registry.md).
/// </summary>
public sealed class ManifestTrust : IDisposable
{
    private readonly Dictionary<string, ECDsa> _keys = new(StringComparer.Ordinal);

    /// <param name="publicKeyPems">Public keys as SubjectPublicKeyInfo PEM ("PUBLIC KEY").</param>
    /// <exception cref="ArgumentException">A key is not an ECDSA P-256 public key.</exception>
    public ManifestTrust(IEnumerable<string> publicKeyPems)
    {
        ArgumentNullException.ThrowIfNull(publicKeyPems);
        foreach (var pem in publicKeyPems)
        {
            var key = ECDsa.Create();
            try
            {
                key.ImportFromPem(pem);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException)
            {
                key.Dispose();
                throw new ArgumentException($"A trusted key is not an ECDSA public key in PEM: {ex.Message}", nameof(publicKeyPems), ex);
            }

            if (key.KeySize != 256)
            {
                key.Dispose();
                throw new ArgumentException($"A trusted key is a {key.KeySize}-bit curve; manifests are signed with ECDSA P-256.", nameof(publicKeyPems));
            }

            var id = KeyIdOf(key.ExportSubjectPublicKeyInfo());
            if (!_keys.TryAdd(id, key))
            {
                key.Dispose();
            }
        }
    }

    /// <summary>The ids of the trusted keys.</summary>
    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    /// <summary>Trusts the public key in each of these PEM files.</summary>
    public static ManifestTrust FromFiles(IEnumerable<string> paths) => new(paths.Select(File.ReadAllText));

    /// <summary>"p256:" and the first 16 hex digits of the SHA-256 of a SubjectPublicKeyInfo.</summary>
    public static string KeyIdOf(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        "p256:" + Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo))[..16];

    /// <summary>Checks the manifest's signature against the trusted keys; null when it verifies.</summary>
    public ManifestRejection? Verify(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Signature is not { } signature || string.IsNullOrEmpty(signature.Value))
        {
            return new(ManifestRejection.Unsigned, $"the manifest of {manifest.Name} {manifest.Version} carries no signature");
        }

        if (signature.Algorithm != ManifestSigner.Algorithm)
        {
            return new(ManifestRejection.BadSignature, $"signature algorithm '{signature.Algorithm}' is not {ManifestSigner.Algorithm}");
        }

        if (signature.KeyId is null || !_keys.TryGetValue(signature.KeyId, out var key))
        {
            return new(ManifestRejection.UnknownKey,
                $"signed by key '{signature.KeyId}', which is not among the trusted keys ({string.Join(", ", _keys.Keys)})");
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(signature.Value);
        }
        catch (FormatException)
        {
            return new(ManifestRejection.BadSignature, "the signature is not base64");
        }

        return key.VerifyData(manifest.CanonicalBytes(), bytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
            ? null
            : new(ManifestRejection.BadSignature, $"the signature of {manifest.Name} {manifest.Version} does not match its contents (key {signature.KeyId})");
    }

    /// <summary>
    /// Parses signed manifest JSON and checks it; on success <paramref name="manifest"/> is the verified manifest.
    /// </summary>
    public ManifestRejection? Verify(ReadOnlySpan<byte> manifestJson, out ModelManifest? manifest)
    {
        manifest = null;
        ModelManifest parsed;
        try
        {
            parsed = ModelManifest.Parse(manifestJson, "(assigned manifest)");
        }
        catch (ModelLoadException ex)
        {
            return new(ManifestRejection.BadManifest, ex.Message);
        }

        var rejection = Verify(parsed);
        if (rejection is null)
        {
            manifest = parsed;
        }

        return rejection;
    }

    /// <summary>Checks a file against the (verified) manifest's size and SHA-256; null when it matches.</summary>
    public static ManifestRejection? VerifyFile(ModelManifest manifest, string path)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var length = new FileInfo(path).Length;
        if (length != manifest.Model.SizeBytes)
        {
            return new(ManifestRejection.SizeMismatch, $"'{Path.GetFileName(path)}' has {length} bytes; the manifest says {manifest.Model.SizeBytes}");
        }

        string sha256;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
        {
            sha256 = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        return string.Equals(sha256, manifest.Model.Sha256, StringComparison.OrdinalIgnoreCase)
            ? null
            : new(ManifestRejection.HashMismatch, $"'{Path.GetFileName(path)}' has SHA-256 {sha256}; the manifest says {manifest.Model.Sha256}");
    }

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }

        _keys.Clear();
    }
}
