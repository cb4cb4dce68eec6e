using System.Text.RegularExpressions;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Cloud.Tests;

/// <summary>
/// SQL is parameterised everywhere: values travel as Npgsql parameters, never spliced into the text. This guard reads
/// the cloud's source and finds every interpolated string that holds SQL; each hole must be a constant of the same file
/// or one of the reviewed splices below (identifiers and fragments the code chooses from a fixed set, never a caller's
/// value). A new splice fails here until it is reviewed and listed with its reason.
/// </summary>
[Trait("Category", "Security")]
public sealed partial class SqlParameterisationTests
{
    /// <summary>(file name, hole) → why it is not a caller's value.</summary>
    private static readonly Dictionary<(string File, string Hole), string> Reviewed = new()
    {
        [("FleetDatabase.cs", "QuoteIdentifier(databaseName)")] = "a database name quoted as an identifier (CREATE/DROP DATABASE take no parameters)",
        [("FrameBatchWriter.cs", "table")] = "frames or the ingest bench's own copy table, chosen in code",
        [("RetentionSweeper.cs", "name")] = "a table name from the RetainedTable switch",
        [("RetentionSweeper.cs", "column")] = "a column name from the RetainedTable switch",
        [("RetentionSweeper.cs", "delete")] = "the DELETE built above from the same switch; its values are $1 and $2",
        [("FleetAnalytics.cs", "key")] = "one of two grouping expressions chosen by the LatencyGrouping enum",
        [("FleetAnalytics.cs", "sql")] = "a ranking query chosen by the TopDevicesMetric enum; its values are parameters",
        [("FleetAnalytics.cs", "(ranged ? 3 : 1)")] = "the ordinal of the LIMIT parameter",
        [("FleetAnalytics.cs", "_limit")] = "the row cap, an int from configuration (Cloud:Analytics:MaxRows) plus one, never a caller's value",
    };

    [Fact]
    public void Every_value_in_the_clouds_sql_is_a_parameter()
    {
        var cloud = RepoFiles.Path("cloud");
        var files = Directory.GetFiles(cloud, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}Migrations{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}YoloFleet.Cli{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(files);

        var sqlStrings = 0;
        var unreviewed = new List<string>();
        foreach (var file in files)
        {
            var source = File.ReadAllText(file);
            var constants = ConstantNames().Matches(source).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            foreach (Match literal in InterpolatedString().Matches(source))
            {
                if (!SqlKeyword().IsMatch(literal.Value))
                {
                    continue;
                }

                sqlStrings++;
                foreach (Match hole in Hole().Matches(literal.Value))
                {
                    var expression = hole.Groups[1].Value.Trim();
                    if (!constants.Contains(expression) && !Reviewed.ContainsKey((Path.GetFileName(file), expression)))
                    {
                        var line = source[..literal.Index].Count(c => c == '\n') + 1;
                        unreviewed.Add($"{Path.GetRelativePath(cloud, file)}:{line}: {{{expression}}}");
                    }
                }
            }
        }

        Assert.True(sqlStrings > 10, $"only {sqlStrings} SQL strings found: the scan is not reading the cloud's stores");
        Assert.True(unreviewed.Count == 0, "SQL spliced with a value that is neither a constant nor reviewed:\n" + string.Join('\n', unreviewed));
    }

    [Fact]
    public void The_guard_catches_a_value_spliced_into_sql()
    {
        const string Source = """
            const string Columns = "a, b";
            var bad = $"SELECT {Columns} FROM t WHERE name = '{name}'";
            """;
        var literal = InterpolatedString().Match(Source);
        Assert.Matches(SqlKeyword(), literal.Value);
        var constants = ConstantNames().Matches(Source).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var holes = Hole().Matches(literal.Value).Select(m => m.Groups[1].Value).Where(h => !constants.Contains(h)).ToList();
        Assert.Equal(["name"], holes);
    }

    [GeneratedRegex(@"\$+(""""""[\s\S]*?""""""|""(?:[^""\\\n]|\\.)*"")")]
    private static partial Regex InterpolatedString();

    [GeneratedRegex(@"\b(SELECT|INSERT|UPDATE|DELETE|COPY|CREATE|DROP|ALTER)\b")]
    private static partial Regex SqlKeyword();

    [GeneratedRegex(@"(?<!\{)\{([^{}]+)\}(?!\})")]
    private static partial Regex Hole();

    [GeneratedRegex(@"\b(?:const|static\s+readonly)\s+string\s+(\w+)\s*=")]
    private static partial Regex ConstantNames();
}
