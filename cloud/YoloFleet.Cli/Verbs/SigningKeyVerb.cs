using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet signing-key`: prints the public key that signs manifests, as PEM on stdout (for an agent's trusted keys:
/// `yolofleet signing-key > fleet-key.pem`) with its id on stderr; from a silo, or from a key file with --key-file.
/// </summary>
internal static class SigningKeyVerb
{
    public static Command Create()
    {
        var keyFile = new Option<string?>("--key-file") { Description = "Read this PEM key file (private or public) instead of asking a silo." };
        var (url, apiKey, json) = (SiloApi.UrlOption(), SiloApi.ApiKeyOption(), SiloApi.JsonOption());
        var command = new Command("signing-key", "Print the public key agents must trust (Agent:Models:TrustedKeys), and its id.") { keyFile, url, apiKey, json };
        command.SetAction((parse, cancellationToken) => SiloApi.RunAsync(async () =>
        {
            string keyId, pem;
            if (parse.GetValue(keyFile) is { } path)
            {
                (keyId, pem) = FromFile(path);
            }
            else
            {
                using var api = new SiloApi(parse.GetValue(url)!, parse.GetValue(apiKey), TimeSpan.FromSeconds(30));
                var key = await api.SendAsync(HttpMethod.Get, "api/signing-key", null, cancellationToken);
                (keyId, pem) = (key.GetProperty("keyId").GetString()!, key.GetProperty("publicKeyPem").GetString()!);
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { keyId, algorithm = ManifestSigner.Algorithm, publicKeyPem = pem }));
                return ExitCodes.Ok;
            }

            Console.Out.Write(pem.EndsWith('\n') ? pem : pem + "\n");
            await Console.Error.WriteLineAsync($"key id {keyId} ({ManifestSigner.Algorithm})");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static (string KeyId, string Pem) FromFile(string path)
    {
        var text = File.ReadAllText(path);
        try
        {
            using var signer = ManifestSigner.FromPem(text);
            return (signer.KeyId, signer.PublicKeyPem);
        }
        catch (ArgumentException)
        {
            // Not a private key: a public one will do.
        }

        try
        {
            using var trust = new ManifestTrust([text]);
            using var key = ECDsa.Create();
            key.ImportFromPem(text);
            return (trust.KeyIds.Single(), key.ExportSubjectPublicKeyInfoPem());
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw new SiloApiException(ExitCodes.Invalid, $"'{path}' holds no ECDSA P-256 key in PEM: {ex.Message}");
        }
    }
}
