using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace YoloFleet.Cloud.Apis;

/// <summary>
/// A page of a list endpoint: the items and the cursor of the next page (null on the last one). Pass it back as
/// <c>?cursor=</c> with the same filters to go on.
/// </summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>
/// Keyset pagination for the list endpoints: <c>limit</c> (1 to <see cref="MaxLimit"/>, default
/// <see cref="DefaultLimit"/>) and an opaque <c>cursor</c> that holds the sort key of the last item served, so a page
/// is a range scan from there (no OFFSET): rows added or removed meanwhile shift nothing. A cursor names the list it
/// belongs to; another list's cursor, or a damaged one, is a 400.
/// </summary>
public static class Paging
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>The limit to use, or a problem naming the parameter.</summary>
    public static bool TryLimit(int? limit, out int value, out ProblemHttpResult? problem)
    {
        value = limit ?? DefaultLimit;
        problem = value is < 1 or > MaxLimit
            ? TypedResults.Problem($"limit must be between 1 and {MaxLimit} (default {DefaultLimit}); it was {value}.", statusCode: StatusCodes.Status400BadRequest)
            : null;
        return problem is null;
    }

    /// <summary>
    /// The key parts a cursor of list <paramref name="kind"/> holds (null for no cursor: the first page), or a 400
    /// problem when it is not such a cursor.
    /// </summary>
    public static bool TryCursor(string? cursor, string kind, int parts, out string[]? key, out ProblemHttpResult? problem)
    {
        key = null;
        problem = null;
        if (string.IsNullOrEmpty(cursor))
        {
            return true;
        }

        try
        {
            var values = JsonSerializer.Deserialize<string[]>(Base64Url.DecodeFromChars(cursor));
            if (values is { Length: > 0 } && values[0] == kind && values.Length == parts + 1 && values.All(v => v is not null))
            {
                key = values[1..];
                return true;
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            // Falls through to the problem below.
        }

        problem = BadCursor(kind);
        return false;
    }

    /// <summary>The 400 for a cursor that is not one of list <paramref name="kind"/>'s.</summary>
    public static ProblemHttpResult BadCursor(string kind) => TypedResults.Problem(
        $"cursor is not a cursor of this list ({kind}): pass back the nextCursor of the previous page unchanged, with the same filters.",
        statusCode: StatusCodes.Status400BadRequest);

    /// <summary>
    /// The page of <paramref name="rows"/>, which the query fetched with limit + 1 so that a further row says there is a
    /// next page; its cursor holds the key of the last item served.
    /// </summary>
    public static Page<T> Of<T>(IReadOnlyList<T> rows, int limit, string kind, Func<T, string[]> keyOf)
    {
        if (rows.Count <= limit)
        {
            return new Page<T>(rows, null);
        }

        var items = rows.Take(limit).ToList();
        return new Page<T>(items, Encode(kind, keyOf(items[^1])));
    }

    public static string Encode(string kind, string[] key) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(JsonSerializer.Serialize<string[]>([kind, .. key])));

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Text(DateTimeOffset value) => value.UtcTicks.ToString(CultureInfo.InvariantCulture);

    public static bool TryLong(string text, out long value) => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public static bool TryTime(string text, out DateTimeOffset value)
    {
        value = default;
        if (!TryLong(text, out var ticks) || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        value = new DateTimeOffset(ticks, TimeSpan.Zero);
        return true;
    }
}
