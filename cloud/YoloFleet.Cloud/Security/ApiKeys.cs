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

/// <summary>What an operator API key may do: read (GET) only, or operate (change state) too.</summary>
public enum ApiRole
{
    /// <summary>GET and HEAD only (Cloud:Api:ReaderKeyHashes).</summary>
    Reader,

    /// <summary>Everything, including uploads, quantize jobs, assignments, registrations and rollout commands (Cloud:Api:KeyHashes).</summary>
    Operator,
}

/// <summary>The configured key hashes with their roles, checked in constant time against a presented key.</summary>
public sealed class ApiKeyVerifier
{
    private readonly (byte[] Hash, ApiRole Role)[] _hashes;

    public ApiKeyVerifier(IEnumerable<string> operatorKeyHashes, IEnumerable<string>? readerKeyHashes = null) =>
        _hashes = [.. Parse(operatorKeyHashes, ApiRole.Operator), .. Parse(readerKeyHashes ?? [], ApiRole.Reader)];

    public bool HasKeys => _hashes.Length > 0;

    /// <summary>The role of <paramref name="key"/>, or null when it is not one of the configured keys.</summary>
    public ApiRole? RoleOf(string key)
    {
        Span<byte> presented = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), presented);

        // Check every configured hash (no early exit), so timing does not tell which one matched. An operator entry wins
        // over a reader entry of the same hash (options validation refuses that configuration anyway).
        ApiRole? role = null;
        foreach (var (hash, hashRole) in _hashes)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, hash) && role is not ApiRole.Operator)
            {
                role = hashRole;
            }
        }

        return role;
    }

    public bool IsValid(string key) => RoleOf(key) is not null;

    private static IEnumerable<(byte[], ApiRole)> Parse(IEnumerable<string> hashes, ApiRole role) =>
        hashes.Select(h => (ApiKeys.TryParseHash(h, out var bytes) ? bytes : throw new FormatException($"'{h}' is not a SHA-256 hash."), role));
}
