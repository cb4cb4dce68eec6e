using System.Text;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cloud.Registry.Signing;

/// <summary>
/// The cloud's manifest signer, loaded on first use from Cloud:Models:SigningKeyFile, or, when that is unset, from a key
/// file in the silo's state directory that is made on first use (ECDSA P-256, PKCS#8 PEM, mode 0600), with the public
/// key written beside it ("&lt;key&gt;.pub.pem") for agents' configuration. The public key's path and id are logged.
/// </summary>
public sealed partial class ManifestSigningKey(ModelRegistryOptions options, ILogger<ManifestSigningKey> logger) : IDisposable
{
    private readonly Lock _lock = new();
    private ManifestSigner? _signer;

    /// <summary>The public key file beside a private key file: "manifest-signing.pem" → "manifest-signing.pub.pem".</summary>
    public static string PublicKeyPathFor(string privateKeyPath) => Path.ChangeExtension(privateKeyPath, null) + ".pub.pem";

    /// <summary>The signer; made or loaded at the first call.</summary>
    /// <exception cref="ModelRegistryException">The key cannot be read or made (Unavailable); the message names the file and the setting.</exception>
    public ManifestSigner Signer
    {
        get
        {
            lock (_lock)
            {
                return _signer ??= Load();
            }
        }
    }

    public string KeyFile => options.ResolvedSigningKeyFile;

    public void Dispose() => _signer?.Dispose();

    private ManifestSigner Load()
    {
        var path = Path.GetFullPath(options.ResolvedSigningKeyFile);
        var configured = options.SigningKeyFile is { Length: > 0 };
        try
        {
            if (!File.Exists(path))
            {
                if (configured)
                {
                    throw new ModelRegistryException(RegistryErrorKind.Unavailable, $"Cloud:Models:SigningKeyFile '{path}' does not exist.");
                }

                using var fresh = ManifestSigner.Generate();
                if (PrivateKeyFiles.TryCreate(path, Encoding.ASCII.GetBytes(fresh.ExportPrivateKeyPem())))
                {
                    LogCreated(path);
                }
            }

            if (PrivateKeyFiles.IsReadableByOthers(path))
            {
                LogReadableByOthers(path);
            }

            var signer = ManifestSigner.FromPem(File.ReadAllText(path));
            var publicPath = PublicKeyPathFor(path);
            try
            {
                if (!File.Exists(publicPath) || File.ReadAllText(publicPath) != signer.PublicKeyPem)
                {
                    WritePublicKey(publicPath, signer.PublicKeyPem);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A configured key may sit in a read-only folder; the public key is also served (GET /api/signing-key).
                LogPublicKeyNotWritten(publicPath, ex.Message);
            }

            LogLoaded(signer.KeyId, publicPath, path);
            return signer;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ModelRegistryException(
                RegistryErrorKind.Unavailable,
                $"The manifest signing key '{path}' cannot be {(File.Exists(path) ? "read" : "created")}: {ex.Message} " +
                "Set Cloud:Models:SigningKeyFile to a readable ECDSA P-256 PEM key, or Cloud:StateDirectory to a writable folder.",
                ex);
        }
    }

    private static void WritePublicKey(string path, string pem)
    {
        // The public key is not secret; it is rewritten whenever it does not match, so it always names the key in use.
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, pem);
        File.Move(temporary, path, overwrite: true);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Made a new manifest signing key at {Path} (owner-only); agents must trust its public key (yolofleet signing-key)")]
    private partial void LogCreated(string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Signing manifests with key {KeyId}; public key {PublicKeyPath} (private key {PrivateKeyPath})")]
    private partial void LogLoaded(string keyId, string publicKeyPath, string privateKeyPath);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the public key to {Path} ({Error}); `yolofleet signing-key` prints it from the silo")]
    private partial void LogPublicKeyNotWritten(string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The manifest signing key {Path} can be read by other users; chmod 600 it")]
    private partial void LogReadableByOthers(string path);
}
