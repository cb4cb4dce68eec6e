using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using YoloFleet.Cloud.Registry.Models;

namespace YoloFleet.Cloud.Registry.Signing;

/// <summary>Why a download URL was refused; the artifact endpoint answers 403 and counts it under <see cref="Code"/>.</summary>
public sealed record DownloadRefusal(string Code, string Detail)
{
    public const string Missing = "missing";
    public const string Malformed = "malformed";
    public const string Expired = "expired";
    public const string BadToken = "bad_token";
}

/// <summary>
/// Per-device download tokens: HMAC-SHA256 with a cloud secret over "v1", the device id, the artifact's SHA-256 and an
/// expiry (Unix seconds), carried in the URL (<c>?device=&amp;expires=&amp;token=</c>). A device needs no operator key to
/// download what it was assigned, a token opens one artifact for one device until it expires, and nothing is stored
/// per token. The secret comes from Cloud:Models:DownloadTokenKeyFile or a file made on first use in the state
/// directory; every silo of a cluster needs the same one.
/// </summary>
public sealed partial class DownloadTokens(ModelRegistryOptions options, TimeProvider time, ILogger<DownloadTokens> logger)
{
    private const int SecretBytes = 32;

    private readonly Lock _lock = new();
    private byte[]? _secret;

    /// <summary>The query string for <paramref name="deviceId"/> to fetch <paramref name="sha256"/> until <paramref name="expires"/>.</summary>
    public string QueryFor(string deviceId, string sha256, DateTimeOffset expires)
    {
        var unix = expires.ToUnixTimeSeconds();
        return string.Create(CultureInfo.InvariantCulture,
            $"device={Uri.EscapeDataString(deviceId)}&expires={unix}&token={Mac(deviceId, sha256.ToLowerInvariant(), unix)}");
    }

    /// <summary>Checks a request's token for <paramref name="sha256"/>; null when it may download it.</summary>
    public DownloadRefusal? Check(string sha256, string? deviceId, string? expires, string? token)
    {
        if (string.IsNullOrEmpty(deviceId) || string.IsNullOrEmpty(expires) || string.IsNullOrEmpty(token))
        {
            return new(DownloadRefusal.Missing, "A download needs the device, expires and token parameters of the URL the assignment carried.");
        }

        if (!long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var unix) || token.Length != 43)
        {
            return new(DownloadRefusal.Malformed, "The download token or its expiry is malformed.");
        }

        // Compared in constant time, and before the expiry, so a guess learns nothing from the answer's timing or kind.
        var expected = Encoding.ASCII.GetBytes(Mac(deviceId, sha256.ToLowerInvariant(), unix));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(token)))
        {
            return new(DownloadRefusal.BadToken, "The download token does not match this device and artifact.");
        }

        return time.GetUtcNow().ToUnixTimeSeconds() > unix
            ? new(DownloadRefusal.Expired, $"The download URL expired at {DateTimeOffset.FromUnixTimeSeconds(unix):u}; the cloud republishes the assignment with fresh URLs.")
            : null;
    }

    private string Mac(string deviceId, string sha256, long expiresUnix)
    {
        var message = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"v1\n{deviceId}\n{sha256}\n{expiresUnix}"));
        return Convert.ToBase64String(HMACSHA256.HashData(Secret(), message)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private byte[] Secret()
    {
        lock (_lock)
        {
            return _secret ??= Load();
        }
    }

    private byte[] Load()
    {
        var path = Path.GetFullPath(options.ResolvedDownloadTokenKeyFile);
        try
        {
            if (!File.Exists(path))
            {
                if (options.DownloadTokenKeyFile is { Length: > 0 })
                {
                    throw new ModelRegistryException(RegistryErrorKind.Unavailable, $"Cloud:Models:DownloadTokenKeyFile '{path}' does not exist.");
                }

                if (PrivateKeyFiles.TryCreate(path, Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(SecretBytes)))))
                {
                    LogCreated(path);
                }
            }

            var secret = Convert.FromBase64String(File.ReadAllText(path).Trim());
            if (secret.Length < SecretBytes)
            {
                throw new ModelRegistryException(
                    RegistryErrorKind.Unavailable, $"The download token secret '{path}' holds {secret.Length} bytes; at least {SecretBytes} (base64) are needed.");
            }

            return secret;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new ModelRegistryException(
                RegistryErrorKind.Unavailable,
                $"The download token secret '{path}' cannot be read or created: {ex.Message} Set Cloud:Models:DownloadTokenKeyFile, or Cloud:StateDirectory to a writable folder.",
                ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Made a new download token secret at {Path} (owner-only); every silo of the cluster needs the same one")]
    private partial void LogCreated(string path);
}
