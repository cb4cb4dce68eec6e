using System.CommandLine;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet apikey`: mints an operator API key. The key is printed once (nothing stores it); the silo is configured
/// with its SHA-256 hash only (Cloud:Api:KeyHashes). See docs/security.md.
/// </summary>
internal static class ApiKeyVerb
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object with key and hash." };
        var command = new Command("apikey", "Mint an operator API key: prints the key once and the hash to configure.") { json };
        command.SetAction(parse =>
        {
            var (key, hash) = ApiKeys.Mint();
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { key, hash }));
                return 0;
            }

            Console.WriteLine($"key:  {key}");
            Console.WriteLine($"hash: {hash}");
            Console.WriteLine();
            Console.WriteLine("Give the key to the operator (it is shown only now); configure the silos with the hash, e.g.");
            Console.WriteLine($"  Cloud__Api__KeyHashes__0={hash}");
            Console.WriteLine("and call the API with 'Authorization: Bearer <key>'.");
            return 0;
        });
        return command;
    }
}
