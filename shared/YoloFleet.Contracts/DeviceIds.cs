namespace YoloFleet.Contracts;

/// <summary>Device ids: 1-64 characters of [A-Za-z0-9_.-], so they are safe in topics, file names and SQL.</summary>
public static class DeviceIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    public static string Require(string id) => IsValid(id)
        ? id
        : throw new ArgumentException(
            $"Device id '{id}' is invalid: use 1-{MaxLength} characters of letters, digits, '_', '-' or '.'.", nameof(id));
}
