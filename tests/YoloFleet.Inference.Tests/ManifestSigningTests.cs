using System.Security.Cryptography;
using System.Text;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>Signing manifests with ECDSA P-256 and checking them against pinned keys, including rotation.</summary>
public sealed class ManifestSigningTests
{
    private static readonly byte[] ModelBytes = Encoding.ASCII.GetBytes("not really a model, but bytes with a hash");

    private static ModelManifest Manifest() => TestManifests.For(ModelBytes, "m.onnx") with
    {
        Precision = "int8",
        Lineage = new ManifestLineage
        {
            ParentSha256 = new string('b', 64),
            ParentVersion = "m@1",
            Tool = "yolofleet-quantizer",
            Settings = ["method=percentile", "percentile=99.99"],
            Calibration = new ManifestCalibration { Source = "hard-frames", Frames = 2, FramesSha256 = new string('c', 64), FrameIds = ["17", "18"] },
        },
    };

    [Fact]
    public void A_signed_manifest_verifies_after_a_round_trip_through_its_json()
    {
        using var signer = ManifestSigner.Generate();
        using var trust = new ManifestTrust([signer.PublicKeyPem]);
        var signed = signer.Sign(Manifest());

        Assert.Equal(ManifestSigner.Algorithm, signed.Signature!.Algorithm);
        Assert.Equal(signer.KeyId, signed.Signature.KeyId);
        Assert.StartsWith("p256:", signer.KeyId, StringComparison.Ordinal);
        Assert.Null(trust.Verify(Encoding.UTF8.GetBytes(signed.ToJson()), out var parsed));
        Assert.Equal(signed.CanonicalBytes(), parsed!.CanonicalBytes());
        Assert.Equal(["17", "18"], parsed.Lineage!.Calibration!.FrameIds);
    }

    [Fact]
    public void Changing_any_signed_field_breaks_the_signature()
    {
        using var signer = ManifestSigner.Generate();
        using var trust = new ManifestTrust([signer.PublicKeyPem]);
        var signed = signer.Sign(Manifest());

        var otherHash = signed with { Model = signed.Model with { Sha256 = new string('d', 64) } };
        var otherLineage = signed with { Lineage = signed.Lineage! with { ParentSha256 = new string('e', 64) } };
        var otherVersion = signed with { Version = "9.9.9" };

        Assert.Equal(ManifestRejection.BadSignature, trust.Verify(otherHash)!.Code);
        Assert.Equal(ManifestRejection.BadSignature, trust.Verify(otherLineage)!.Code);
        Assert.Equal(ManifestRejection.BadSignature, trust.Verify(otherVersion)!.Code);
    }

    [Fact]
    public void Unsigned_unknown_key_and_garbled_signatures_are_refused_each_with_its_code()
    {
        using var signer = ManifestSigner.Generate();
        using var stranger = ManifestSigner.Generate();
        using var trust = new ManifestTrust([signer.PublicKeyPem]);

        Assert.Equal(ManifestRejection.Unsigned, trust.Verify(Manifest())!.Code);
        Assert.Equal(ManifestRejection.UnknownKey, trust.Verify(stranger.Sign(Manifest()))!.Code);
        var signed = signer.Sign(Manifest());
        Assert.Equal(ManifestRejection.BadSignature, trust.Verify(signed with { Signature = signed.Signature! with { Value = "!!not base64" } })!.Code);
        Assert.Equal(ManifestRejection.BadSignature, trust.Verify(signed with { Signature = signed.Signature! with { Algorithm = "ed25519" } })!.Code);
        Assert.Equal(ManifestRejection.BadManifest, trust.Verify("{ not json"u8, out var none)!.Code);
        Assert.Null(none);
    }

    [Fact]
    public void Rotation_an_agent_trusting_old_and_new_keys_accepts_both_and_after_retiring_the_old_key_only_the_new()
    {
        using var oldKey = ManifestSigner.Generate();
        using var newKey = ManifestSigner.Generate();
        using var both = new ManifestTrust([oldKey.PublicKeyPem, newKey.PublicKeyPem]);
        using var newOnly = new ManifestTrust([newKey.PublicKeyPem]);

        Assert.Equal(2, both.KeyIds.Count);
        Assert.Null(both.Verify(oldKey.Sign(Manifest())));
        Assert.Null(both.Verify(newKey.Sign(Manifest())));
        Assert.Null(newOnly.Verify(newKey.Sign(Manifest())));
        Assert.Equal(ManifestRejection.UnknownKey, newOnly.Verify(oldKey.Sign(Manifest()))!.Code);
    }

    [Fact]
    public void A_signer_loaded_from_its_exported_pem_has_the_same_key_id_and_signatures_verify()
    {
        using var original = ManifestSigner.Generate();
        using var reloaded = ManifestSigner.FromPem(original.ExportPrivateKeyPem());
        using var trust = new ManifestTrust([original.PublicKeyPem]);

        Assert.Equal(original.KeyId, reloaded.KeyId);
        Assert.Null(trust.Verify(reloaded.Sign(Manifest())));
    }

    [Fact]
    public void Keys_that_are_not_p256_are_refused_with_a_clear_error()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var error = Assert.Throws<ArgumentException>(() => new ManifestTrust([p384.ExportSubjectPublicKeyInfoPem()]));
        Assert.Contains("P-256", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ManifestSigner.FromPem(p384.ExportPkcs8PrivateKeyPem()));
        Assert.Throws<ArgumentException>(() => ManifestSigner.FromPem("-----BEGIN NOTHING-----\n-----END NOTHING-----"));
        Assert.Throws<ArgumentException>(() => new ManifestTrust(["not a key"]));
    }

    [Fact]
    public void A_file_is_checked_against_the_manifest_size_and_hash()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "m.onnx");
        File.WriteAllBytes(path, ModelBytes);
        var manifest = Manifest();
        Assert.Null(ManifestTrust.VerifyFile(manifest, path));

        var tampered = (byte[])ModelBytes.Clone();
        tampered[3] ^= 1;
        File.WriteAllBytes(path, tampered);
        Assert.Equal(ManifestRejection.HashMismatch, ManifestTrust.VerifyFile(manifest, path)!.Code);

        File.WriteAllBytes(path, ModelBytes[..^1]);
        Assert.Equal(ManifestRejection.SizeMismatch, ManifestTrust.VerifyFile(manifest, path)!.Code);
    }

    [Fact]
    public void A_lineage_with_a_malformed_parent_hash_makes_the_manifest_invalid()
    {
        var bad = Manifest() with { Lineage = Manifest().Lineage! with { ParentSha256 = "xyz" } };
        var error = Assert.Throws<ModelLoadException>(() => bad.Validate());
        Assert.Contains("lineage.parentSha256", error.Message, StringComparison.Ordinal);
    }
}
