using System.Globalization;
using System.Text;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// Reads the class names that exporters store as Python's <c>str()</c> of a dict or list: Ultralytics writes
/// <c>{0: 'person', 1: 'bicycle', ...}</c>, older YOLOv5 exports <c>['person', 'bicycle', ...]</c>. Python quotes a
/// name holding an apostrophe with double quotes (<c>"o'clock"</c>) and escapes a quote only when the name holds both
/// kinds (<c>'a \'b\' "c"'</c>), so both quote characters and backslash escapes must be read, not split on.
/// </summary>
internal static class PythonNamesLiteral
{
    /// <summary>The names in class-id order.</summary>
    /// <exception cref="FormatException">The text is not such a literal, or the dict's keys are not exactly 0..n-1.</exception>
    public static List<string> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var reader = new Reader(text);
        reader.SkipSpace();
        List<string> names;
        if (reader.TryTake('{'))
        {
            names = ReadDict(reader);
        }
        else if (reader.TryTake('['))
        {
            names = ReadList(reader, ']');
        }
        else if (reader.TryTake('('))
        {
            names = ReadList(reader, ')');
        }
        else
        {
            throw reader.Error("expected a dict {0: 'name', ...} or a list ['name', ...]");
        }

        reader.SkipSpace();
        if (!reader.AtEnd)
        {
            throw reader.Error("unexpected text after the closing bracket");
        }

        return names.Count > 0 ? names : throw new FormatException("The names literal lists no classes.");
    }

    private static List<string> ReadDict(Reader reader)
    {
        var byId = new SortedDictionary<int, string>();
        while (true)
        {
            reader.SkipSpace();
            if (reader.TryTake('}'))
            {
                break;
            }

            var keyAt = reader.Position;
            var id = ReadKey(reader);
            reader.SkipSpace();
            reader.Expect(':');
            reader.SkipSpace();
            var name = ReadString(reader);
            if (!byId.TryAdd(id, name))
            {
                throw new FormatException($"Class id {id} appears twice (at character {keyAt}).");
            }

            reader.SkipSpace();
            if (!reader.TryTake(','))
            {
                reader.Expect('}');
                break;
            }
        }

        // Class ids index the model's score columns, so they must be 0..n-1 with no gap.
        var expected = 0;
        foreach (var id in byId.Keys)
        {
            if (id != expected)
            {
                throw new FormatException($"Class ids must run 0..{byId.Count - 1} without gaps; {expected} is missing.");
            }

            expected++;
        }

        return [.. byId.Values];
    }

    private static List<string> ReadList(Reader reader, char closing)
    {
        var names = new List<string>();
        while (true)
        {
            reader.SkipSpace();
            if (reader.TryTake(closing))
            {
                break;
            }

            names.Add(ReadString(reader));
            reader.SkipSpace();
            if (!reader.TryTake(','))
            {
                reader.Expect(closing);
                break;
            }
        }

        return names;
    }

    /// <summary>An integer key, bare (Python's own repr) or quoted (after a round trip through JSON or YAML).</summary>
    private static int ReadKey(Reader reader)
    {
        var start = reader.Position;
        var digits = reader.Peek is '\'' or '"' ? ReadString(reader) : reader.TakeWhile(char.IsAsciiDigit);
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new FormatException($"Expected a class id (0, 1, ...) at character {start}, found '{(digits.Length > 0 ? digits : reader.Rest(10))}'.");
    }

    private static string ReadString(Reader reader)
    {
        var start = reader.Position;
        var raw = false;
        while (reader.Peek is 'r' or 'R' or 'u' or 'U')
        {
            raw |= reader.Peek is 'r' or 'R';
            reader.Take();
        }

        if (reader.Peek is not ('\'' or '"'))
        {
            throw new FormatException($"Expected a quoted name at character {start}, found '{reader.Rest(10)}'.");
        }

        var quote = reader.Take();
        var name = new StringBuilder();
        while (true)
        {
            if (reader.AtEnd || reader.Peek is '\n' or '\r')
            {
                throw new FormatException($"The name starting at character {start} has no closing {quote}.");
            }

            var next = reader.Take();
            if (next == quote)
            {
                return name.ToString();
            }

            if (next != '\\' || reader.AtEnd)
            {
                name.Append(next);
                continue;
            }

            if (raw)
            {
                // A raw string keeps the backslash, but it still cannot end on an escaped quote.
                name.Append(next).Append(reader.Take());
                continue;
            }

            var escaped = reader.Take();
            switch (escaped)
            {
                case '\\' or '\'' or '"':
                    name.Append(escaped);
                    break;
                case 'n':
                    name.Append('\n');
                    break;
                case 't':
                    name.Append('\t');
                    break;
                case 'r':
                    name.Append('\r');
                    break;
                case 'x':
                    name.Append(ReadCodePoint(reader, 2));
                    break;
                case 'u':
                    name.Append(ReadCodePoint(reader, 4));
                    break;
                case 'U':
                    name.Append(ReadCodePoint(reader, 8));
                    break;
                default:
                    // Python keeps an unknown escape as written.
                    name.Append('\\').Append(escaped);
                    break;
            }
        }
    }

    private static string ReadCodePoint(Reader reader, int hexDigits)
    {
        var start = reader.Position;
        var hex = reader.Take(hexDigits);
        return int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var codePoint) && codePoint <= 0x10FFFF
            ? char.ConvertFromUtf32(codePoint)
            : throw new FormatException($"Bad escape '{hex}' at character {start}: expected {hexDigits} hex digits.");
    }

    private sealed class Reader(string text)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position >= text.Length;

        public char Peek => AtEnd ? '\0' : text[Position];

        public char Take() => text[Position++];

        public string Take(int count)
        {
            var taken = text.Substring(Position, Math.Min(count, text.Length - Position));
            Position += taken.Length;
            return taken;
        }

        public string TakeWhile(Func<char, bool> predicate)
        {
            var start = Position;
            while (!AtEnd && predicate(text[Position]))
            {
                Position++;
            }

            return text[start..Position];
        }

        public string Rest(int maxLength) => text.Substring(Position, Math.Min(maxLength, text.Length - Position));

        public void SkipSpace()
        {
            while (!AtEnd && char.IsWhiteSpace(text[Position]))
            {
                Position++;
            }
        }

        public bool TryTake(char expected)
        {
            if (Peek != expected || AtEnd)
            {
                return false;
            }

            Position++;
            return true;
        }

        public void Expect(char expected)
        {
            if (!TryTake(expected))
            {
                throw Error($"expected '{expected}'");
            }
        }

        public FormatException Error(string problem) =>
            new($"At character {Position}: {problem}, found '{(AtEnd ? "end of text" : Rest(10))}'.");
    }
}
