using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using YoloFleet.Cloud.Registry;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Registry.Signing;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>The cloud's signing key: made on first use in the state directory (owner-only), or read from a configured file.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ManifestSigningKeyTests : IDisposable
{
    private readonly TempDirectory _state = new();

    public void Dispose() => _state.Dispose();

    private static ModelManifest Manifest() => new()
    {
        SchemaVersion = 1,
        Name = "m",
        Version = "1",
        Model = new ManifestModelFile { File = "m-1-fp32.onnx", Sha256 = new string('a', 64), SizeBytes = 10 },
    };

    [Fact]
    public void Without_a_configured_file_a_key_is_made_once_owner_only_with_its_public_key_beside_it()
    {
        var options = new ModelRegistryOptions { StateDirectory = _state.Path };
        using var first = new ManifestSigningKey(options, NullLogger<ManifestSigningKey>.Instance);
        var signed = first.Signer.Sign(Manifest());
        using var second = new ManifestSigningKey(options, NullLogger<ManifestSigningKey>.Instance);

        var keyFile = Path.Combine(_state.Path, "keys", "manifest-signing.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(keyFile)!));
        Assert.Equal(first.Signer.KeyId, second.Signer.KeyId);

        // An agent pinning the public key file verifies what the cloud signed, after a round trip through JSON.
        using var trust = ManifestTrust.FromFiles([ManifestSigningKey.PublicKeyPathFor(keyFile)]);
        Assert.Null(trust.Verify(Encoding.UTF8.GetBytes(signed.ToJson()), out _));
    }

    [Fact]
    public void A_configured_key_file_is_used_and_a_missing_one_is_an_error_naming_the_setting()
    {
        using var generated = ManifestSigner.Generate();
        var path = Path.Combine(_state.Path, "fleet.pem");
        File.WriteAllText(path, generated.ExportPrivateKeyPem());
        using var configured = new ManifestSigningKey(new ModelRegistryOptions { StateDirectory = _state.Path, SigningKeyFile = path }, NullLogger<ManifestSigningKey>.Instance);
        Assert.Equal(generated.KeyId, configured.Signer.KeyId);

        using var missing = new ManifestSigningKey(
            new ModelRegistryOptions { StateDirectory = _state.Path, SigningKeyFile = Path.Combine(_state.Path, "none.pem") }, NullLogger<ManifestSigningKey>.Instance);
        var error = Assert.Throws<ModelRegistryException>(() => missing.Signer);
        Assert.Equal(RegistryErrorKind.Unavailable, error.Kind);
        Assert.Contains("Cloud:Models:SigningKeyFile", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_validation_names_a_missing_configured_key_and_a_bad_public_url()
    {
        var options = new ModelRegistryOptions { StateDirectory = _state.Path, SigningKeyFile = "/no/such/key.pem", PublicBaseUrl = "fleet.example.com" };
        var problems = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).Select(result => result.ErrorMessage).ToList();

        Assert.Contains(problems, problem => problem!.Contains("Cloud:Models:SigningKeyFile", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem!.Contains("Cloud:Models:PublicBaseUrl", StringComparison.Ordinal));
    }
}
