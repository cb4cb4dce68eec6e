using System.Text;
using System.Text.Json.Nodes;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Preprocessing;
using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.Inference.Tests;

/// <summary>Reading, checking and canonicalising manifests on their own, without a model.</summary>
public sealed class ModelManifestTests
{
    private static readonly string Sha = new('a', 64);

    private static readonly string Minimal = $$"""
        {
          "schemaVersion": 1,
          "name": "tiny",
          "version": "1.0.0",
          "model": { "file": "tiny.onnx", "sha256": "{{Sha}}", "sizeBytes": 10 }
        }
        """;

    private static readonly string Full = $$"""
        {
          "schemaVersion": 1,
          "name": "tiny",
          "version": "1.2.0",
          "model": { "file": "tiny.onnx", "sha256": "{{Sha}}", "sizeBytes": 10 },
          "layout": "yolov8",
          "input": { "width": 416, "height": 416 },
          "precision": "int8",
          "preprocessing": {
            "channelOrder": "rgb", "scale": 0.003921569, "mean": [0, 0, 0], "std": [1, 1, 1],
            "resize": "letterbox", "padValue": 114, "padPlacement": "center"
          },
          "classNames": ["cat", "o'clock"],
          "thresholds": { "confidence": 0.3, "nmsIou": 0.5, "maxDetections": 100, "classAgnostic": true },
          "createdAt": "2026-11-23T12:00:00Z",
          "source": "trained on tiny.yaml",
          "licence": "AGPL-3.0",
          "signature": { "algorithm": "ed25519", "keyId": "fleet-2026", "value": "c2lnbmF0dXJl" }
        }
        """;

    [Fact]
    public void Loads_every_field()
    {
        using var folder = new TempFolder();
        var path = folder.Write("tiny.onnx.manifest.json", Full);

        var manifest = ModelManifest.Load(path);

        Assert.Equal((1, "tiny", "1.2.0"), (manifest.SchemaVersion, manifest.Name, manifest.Version));
        Assert.Equal(new ManifestModelFile { File = "tiny.onnx", Sha256 = Sha, SizeBytes = 10 }, manifest.Model);
        Assert.Equal(("yolov8", "int8"), (manifest.Layout, manifest.Precision));
        Assert.Equal(new ManifestInput { Width = 416, Height = 416 }, manifest.Input);
        Assert.Equal(["cat", "o'clock"], manifest.ClassNames);
        Assert.Equal(new DetectionThresholds(0.3f, 0.5f, 100, ClassAgnostic: true), manifest.Thresholds!.ToThresholds());
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), manifest.CreatedAt);
        Assert.Equal(("trained on tiny.yaml", "AGPL-3.0"), (manifest.Source, manifest.Licence));
        Assert.Equal(("ed25519", "fleet-2026", "c2lnbmF0dXJl"), (manifest.Signature!.Algorithm, manifest.Signature.KeyId, manifest.Signature.Value));
        Assert.Equal(path, manifest.SourcePath);
    }

    [Fact]
    public void Preprocessing_overrides_only_the_fields_it_gives()
    {
        var partial = new ManifestPreprocessing { ChannelOrder = "rgb", PadPlacement = "center" };
        var full = ModelManifest.Parse(Encoding.UTF8.GetBytes(Full)).Preprocessing!;

        Assert.Equal(PreprocessSpec.Yolox with { ChannelOrder = ChannelOrder.Rgb, PadPlacement = PadPlacement.Center }, partial.ApplyTo(PreprocessSpec.Yolox));
        Assert.Equal(PreprocessSpec.Ultralytics, full.ApplyTo(PreprocessSpec.PicoDet));
    }

    [Theory]
    [InlineData("schemaVersion", "2", "schemaVersion is 2; this library reads schema version 1")]
    [InlineData("name", "\"\"", "name is missing or empty")]
    [InlineData("model.sha256", "\"abc\"", "model.sha256 is 'abc'; expected the file's SHA-256 as 64 hex digits")]
    [InlineData("model.file", "\"models/tiny.onnx\"", "model.file is 'models/tiny.onnx'; give the file name only")]
    [InlineData("model.sizeBytes", "0", "model.sizeBytes is 0")]
    [InlineData("layout", "\"yolov99\"", "layout is 'yolov99'; expected one of yolox, yolov5, yolov8, yolov10, picodet-gfl")]
    [InlineData("input.width", "0", "input is 0 x 416")]
    [InlineData("precision", "\"fp16\"", "precision is 'fp16'; expected 'fp32' or 'int8'")]
    [InlineData("preprocessing.channelOrder", "\"rbg\"", "preprocessing.channelOrder is 'rbg'; expected 'rgb' or 'bgr'")]
    [InlineData("preprocessing.scale", "0", "preprocessing.scale is 0")]
    [InlineData("preprocessing.mean", "[1, 2]", "preprocessing.mean is [1, 2]; expected 3 finite numbers")]
    [InlineData("preprocessing.std", "[1, 0, 1]", "preprocessing.std is [1, 0, 1]; expected 3 positive numbers")]
    [InlineData("preprocessing.resize", "\"crop\"", "preprocessing.resize is 'crop'")]
    [InlineData("preprocessing.padValue", "300", "preprocessing.padValue is 300; expected 0..255")]
    [InlineData("preprocessing.padPlacement", "\"centre\"", "preprocessing.padPlacement is 'centre'; expected 'topLeft' or 'center'")]
    [InlineData("classNames", "[]", "classNames is empty")]
    [InlineData("classNames", "[\"a\", \" \"]", "classNames[1] is empty")]
    [InlineData("thresholds.confidence", "1.5", "thresholds.confidence is 1.5; expected 0..1")]
    [InlineData("thresholds.nmsIou", "-0.1", "thresholds.nmsIou is -0.1")]
    [InlineData("thresholds.maxDetections", "0", "thresholds.maxDetections is 0")]
    [InlineData("signature.algorithm", "\"\"", "signature.algorithm is missing or empty")]
    public void Each_bad_field_is_named_with_the_file(string field, string badValue, string expectedMessage)
    {
        using var folder = new TempFolder();
        var path = folder.Write("bad.manifest.json", With(Full, field, badValue));

        var error = Assert.Throws<ModelLoadException>(() => ModelManifest.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(expectedMessage, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_bad_fields_are_all_listed()
    {
        var json = With(With(Full, "thresholds.confidence", "2"), "precision", "\"fp64\"");

        var error = Assert.Throws<ModelLoadException>(() => ModelManifest.Parse(Encoding.UTF8.GetBytes(json), "two-problems"));

        Assert.Contains("'two-problems' is invalid", error.Message, StringComparison.Ordinal);
        Assert.Contains("thresholds.confidence is 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("precision is 'fp64'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name", null, "'name'")]                                        // required
    [InlineData("model", null, "'model'")]
    [InlineData("thresolds", "{}", "'thresolds'")]                               // a typo is not silently ignored
    [InlineData("thresholds.confidence", "\"high\"", "$.thresholds.confidence")] // wrong type
    [InlineData("name", "null", "$.name")]                                       // null where text is required
    [InlineData("model.extra", "1", "'extra'")]
    public void Unreadable_json_names_the_file_and_the_property(string field, string? value, string expectedFragment)
    {
        using var folder = new TempFolder();
        var path = folder.Write("unreadable.manifest.json", With(Full, field, value));

        var error = Assert.Throws<ModelLoadException>(() => ModelManifest.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(expectedFragment, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Broken_json_names_the_file_and_the_line()
    {
        using var folder = new TempFolder();
        var path = folder.Write("broken.manifest.json", Minimal.Replace("\"version\": \"1.0.0\",", "\"version\": \"1.0.0\"", StringComparison.Ordinal));

        var error = Assert.Throws<ModelLoadException>(() => ModelManifest.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("(line 5)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_and_json_null_are_refused_by_name()
    {
        using var folder = new TempFolder();
        var missing = folder.File("missing.manifest.json");

        var notFound = Assert.Throws<ModelLoadException>(() => ModelManifest.Load(missing));
        var nullDocument = Assert.Throws<ModelLoadException>(() => ModelManifest.Load(folder.Write("null.manifest.json", "null")));

        Assert.Contains($"Model manifest not found: '{missing}'", notFound.Message, StringComparison.Ordinal);
        Assert.Contains("JSON null", nullDocument.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_byte_order_mark_is_accepted()
    {
        using var folder = new TempFolder();
        var path = folder.Write("bom.manifest.json", [.. Encoding.UTF8.Preamble, .. Encoding.UTF8.GetBytes(Minimal)]);

        Assert.Equal("tiny", ModelManifest.Load(path).Name);
    }

    [Fact]
    public void Canonical_bytes_are_compact_in_the_fixed_order_without_absent_values()
    {
        var manifest = ModelManifest.Parse(Encoding.UTF8.GetBytes(Minimal));

        Assert.Equal(
            $$$"""{"schemaVersion":1,"name":"tiny","version":"1.0.0","model":{"file":"tiny.onnx","sha256":"{{{Sha}}}","sizeBytes":10}}""",
            Encoding.UTF8.GetString(manifest.CanonicalBytes()));
    }

    [Fact]
    public void Canonical_bytes_depend_on_the_values_not_the_formatting()
    {
        // The same values, other property order and spacing.
        var reordered = $$"""
            {"model":{"sizeBytes":10,"sha256":"{{Sha}}","file":"tiny.onnx"},
                "version":"1.0.0",   "name":"tiny","schemaVersion":1}
            """;

        var first = ModelManifest.Parse(Encoding.UTF8.GetBytes(Minimal)).CanonicalBytes();
        var again = ModelManifest.Parse(Encoding.UTF8.GetBytes(Minimal)).CanonicalBytes();
        var fromReordered = ModelManifest.Parse(Encoding.UTF8.GetBytes(reordered)).CanonicalBytes();

        Assert.Equal(first, again);
        Assert.Equal(first, fromReordered);
    }

    [Theory]
    [InlineData("version", "\"1.2.1\"")]
    [InlineData("model.sha256", "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"")]
    [InlineData("thresholds.confidence", "0.31")]
    [InlineData("classNames", "[\"cat\", \"clock\"]")]
    [InlineData("preprocessing.padValue", "0")]
    [InlineData("licence", null)]
    public void Changing_any_field_changes_the_canonical_bytes(string field, string? value)
    {
        var original = ModelManifest.Parse(Encoding.UTF8.GetBytes(Full)).CanonicalBytes();

        var changed = ModelManifest.Parse(Encoding.UTF8.GetBytes(With(Full, field, value))).CanonicalBytes();

        Assert.NotEqual(original, changed);
    }

    [Fact]
    public void The_signature_is_not_part_of_the_canonical_bytes()
    {
        var signed = ModelManifest.Parse(Encoding.UTF8.GetBytes(Full));
        var unsigned = signed with { Signature = null };
        var resigned = signed with { Signature = new ManifestSignature { Algorithm = "ed25519", Value = "b3RoZXI=" } };

        Assert.Equal(unsigned.CanonicalBytes(), signed.CanonicalBytes());
        Assert.Equal(unsigned.CanonicalBytes(), resigned.CanonicalBytes());
        Assert.DoesNotContain("signature", Encoding.UTF8.GetString(signed.CanonicalBytes()), StringComparison.Ordinal);
        Assert.Contains("\"signature\"", signed.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void ToJson_round_trips_to_the_same_canonical_bytes()
    {
        var manifest = ModelManifest.Parse(Encoding.UTF8.GetBytes(Full));

        var reread = ModelManifest.Parse(Encoding.UTF8.GetBytes(manifest.ToJson()));

        Assert.Equal(manifest.CanonicalBytes(), reread.CanonicalBytes());
        Assert.Equal(manifest.Signature, reread.Signature);
    }

    /// <summary><paramref name="json"/> with the dotted <paramref name="field"/> set to <paramref name="value"/> (JSON), or removed when null.</summary>
    private static string With(string json, string field, string? value)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var parts = field.Split('.');
        var parent = root;
        foreach (var part in parts[..^1])
        {
            parent = parent[part]!.AsObject();
        }

        if (value is null)
        {
            parent.Remove(parts[^1]);
        }
        else
        {
            parent[parts[^1]] = JsonNode.Parse(value);
        }

        return root.ToJsonString();
    }
}
