using System.Security.Cryptography;
using System.Text;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// Operator API keys: 32 random bytes, base64url with a "yf_" prefix. Only the SHA-256 of a key is configured, so a
/// leaked configuration does not leak a key; a high-entropy key needs no slow hash. Comparison is constant-time.
/// </summary>
public static class ApiKeys
{
    public const string Prefix = "yf_";
    public const string HashPrefix = "sha256:";

    /// <summary>A new key and the hash to put in Cloud:Api:KeyHashes.</summary>
    public static (string Key, string Hash) Mint()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        var key = Prefix + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (key, Hash(key));
    }

    public static string Hash(string key) => HashPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool TryParseHash(string? text, out byte[] hash)
    {
        hash = [];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var hex = text.Trim();
        if (hex.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[HashPrefix.Length..];
        }

        if (hex.Length != 64)
        {
            return false;
        }

        try
        {
            hash = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}

/// <summary>The configured key hashes, checked in constant time against a presented key.</summary>
public sealed class ApiKeyVerifier
{
    private readonly byte[][] _hashes;

    public ApiKeyVerifier(IEnumerable<string> keyHashes) =>
        _hashes = [.. keyHashes.Select(h => ApiKeys.TryParseHash(h, out var bytes) ? bytes : throw new FormatException($"'{h}' is not a SHA-256 hash."))];

    public bool HasKeys => _hashes.Length > 0;

    public bool IsValid(string key)
    {
        Span<byte> presented = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), presented);

        // Check every configured hash (no early exit), so timing does not tell which one matched.
        var match = false;
        foreach (var hash in _hashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(presented, hash);
        }

        return match;
    }
}
