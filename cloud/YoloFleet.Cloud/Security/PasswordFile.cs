using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// A mosquitto password file (<c>mosquitto_passwd</c>), so one file serves both brokers. Lines are
/// <c>user:$7$iterations$salt$hash</c> (PBKDF2-HMAC-SHA512, mosquitto 2.0's default: 101 iterations, 12-byte salt,
/// 64-byte hash, base64) or the older <c>user:$6$salt$hash</c> (SHA-512 of password then salt). Blank lines and
/// <c>#</c> comments are skipped; any other line that does not parse stops the load with its line number.
/// </summary>
public sealed class PasswordFile
{
    public const int DefaultIterations = 101;
    private const int SaltBytes = 12;
    private const int HashBytes = 64;

    // A login costs one PBKDF2 run; an absurd count in the file would let every CONNECT burn a core.
    private const int MaxIterations = 1_000_000;

    private readonly FrozenDictionary<string, Entry> _entries;

    private PasswordFile(FrozenDictionary<string, Entry> entries) => _entries = entries;

    public int Count => _entries.Count;

    public IEnumerable<string> Users => _entries.Keys;

    public static PasswordFile Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Password file '{path}' does not exist (create it with mosquitto_passwd -c FILE USER).", path);
        }

        return Parse(File.ReadAllLines(path), path);
    }

    public static PasswordFile Parse(IEnumerable<string> lines, string source = "password file")
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"{source} line {number}: expected user:hash.");
            }

            var user = line[..colon];
            entries[user] = ParseHash(line[(colon + 1)..]) ?? throw new FormatException(
                $"{source} line {number} (user '{user}'): not a mosquitto_passwd hash ($7$iterations$salt$hash or $6$salt$hash).");
        }

        return new PasswordFile(entries.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>True when <paramref name="user"/> is in the file and <paramref name="password"/> matches, compared in constant time.</summary>
    public bool Verify(string? user, ReadOnlySpan<byte> password)
    {
        if (user is null || !_entries.TryGetValue(user, out var entry))
        {
            return false;
        }

        Span<byte> computed = stackalloc byte[HashBytes];
        if (entry.Iterations > 0)
        {
            Rfc2898DeriveBytes.Pbkdf2(password, entry.Salt, computed, entry.Iterations, HashAlgorithmName.SHA512);
        }
        else
        {
            var buffer = new byte[password.Length + entry.Salt.Length];
            password.CopyTo(buffer);
            entry.Salt.CopyTo(buffer.AsSpan(password.Length));
            SHA512.HashData(buffer, computed);
            CryptographicOperations.ZeroMemory(buffer);
        }

        return CryptographicOperations.FixedTimeEquals(computed[..entry.Hash.Length], entry.Hash);
    }

    public bool Verify(string? user, string password) => Verify(user, Encoding.UTF8.GetBytes(password));

    /// <summary>A line in mosquitto_passwd's format ($7$, PBKDF2-SHA512) for <paramref name="user"/>.</summary>
    public static string CreateLine(string user, string password, int iterations = DefaultIterations)
    {
        if (string.IsNullOrEmpty(user) || user.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException("A user name must be non-empty and contain no ':'.", nameof(user));
        }

        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA512, HashBytes);
        return $"{user}:$7${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    private static Entry? ParseHash(string text)
    {
        var parts = text.Split('$');
        try
        {
            // "$7$101$salt$hash" splits into "", "7", "101", salt, hash; "$6$salt$hash" into "", "6", salt, hash.
            if (parts is ["", "7", var iterations, var salt, var hash]
                && int.TryParse(iterations, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
                && n is > 0 and <= MaxIterations)
            {
                return new Entry(n, Convert.FromBase64String(salt), Convert.FromBase64String(hash)) is { Hash.Length: > 0 and <= HashBytes } e ? e : null;
            }

            if (parts is ["", "6", var salt6, var hash6])
            {
                return new Entry(0, Convert.FromBase64String(salt6), Convert.FromBase64String(hash6)) is { Hash.Length: HashBytes } e ? e : null;
            }
        }
        catch (FormatException)
        {
        }

        return null;
    }

    private sealed record Entry(int Iterations, byte[] Salt, byte[] Hash);
}
