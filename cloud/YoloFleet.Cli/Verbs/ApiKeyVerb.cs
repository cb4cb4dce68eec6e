using System.CommandLine;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet apikey [--role operator|reader]`: mints an API key. The key is printed once (nothing stores it); the silo
/// is configured with its SHA-256 hash only, in Cloud:Api:KeyHashes (operator) or Cloud:Api:ReaderKeyHashes (read-only).
/// See docs/security.md.
/// </summary>
internal static class ApiKeyVerb
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object with key, hash, role and setting." };
        var role = new Option<string>("--role")
        {
            Description = "operator (may change state: uploads, assignments, rollouts) or reader (GET only).",
            DefaultValueFactory = _ => ApiRoles.Operator,
        };
        role.AcceptOnlyFromAmong(ApiRoles.Operator, ApiRoles.Reader);
        var command = new Command("apikey", "Mint an API key for the operator API: prints the key once and the hash to configure.") { role, json };
        command.SetAction(parse =>
        {
            var (key, hash) = ApiKeys.Mint();
            var chosen = parse.GetValue(role)!;
            var setting = chosen == ApiRoles.Reader ? "Cloud:Api:ReaderKeyHashes" : "Cloud:Api:KeyHashes";
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { key, hash, role = chosen, setting }));
                return 0;
            }

            Console.WriteLine($"key:  {key}");
            Console.WriteLine($"hash: {hash}");
            Console.WriteLine($"role: {chosen}");
            Console.WriteLine();
            Console.WriteLine($"Give the key to the operator (it is shown only now); add the hash to {setting} on every silo, e.g.");
            Console.WriteLine($"  {setting.Replace(":", "__", StringComparison.Ordinal)}__0={hash}");
            Console.WriteLine("and call the API with 'Authorization: Bearer <key>'.");
            return 0;
        });
        return command;
    }
}
