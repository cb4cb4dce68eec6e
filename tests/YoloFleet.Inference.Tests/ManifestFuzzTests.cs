using System.Text;
using CsCheck;
using YoloFleet.Inference.Layouts;
using YoloFleet.Inference.Manifest;
using YoloFleet.Inference.Tests.Support;
using YoloFleet.Testing;

namespace YoloFleet.Inference.Tests;

/// <summary>
/// Property-based fuzzing of the parsers that read what a user or the cloud hands a device: model manifests (uploaded
/// with a model, sent inside every assignment) and the class names embedded in Ultralytics exports. Each answers with a
/// result or its own documented error, never another exception.
/// </summary>
[Trait("Category", "Security")]
public sealed class ManifestFuzzTests
{
    public static TheoryData<string> Manifests =>
        [.. Directory.GetFiles(RepoFiles.Path("models", "manifests"), "*" + ModelManifest.FileSuffix).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Manifests))]
    public void A_damaged_manifest_is_read_or_refused_with_a_model_load_error(string file)
    {
        var seed = File.ReadAllBytes(RepoFiles.Path("models", "manifests", file));
        var read = 0;
        var refused = 0;
        FuzzInputs.NoiseOrDamaged(seed).Sample(
            bytes =>
            {
                try
                {
                    var manifest = ModelManifest.Parse(bytes, file);
                    Assert.NotNull(manifest);
                    read++;
                }
                catch (ModelLoadException ex)
                {
                    Assert.Contains(file, ex.Message, StringComparison.Ordinal);
                    refused++;
                }
            },
            iter: FuzzInputs.Iterations,
            threads: 1);

        Assert.True(refused > 0, "nothing was refused");
        Assert.True(read > 0, "no damaged manifest was still readable: the edits never left the JSON intact");
    }

    [Fact]
    public void A_damaged_class_names_literal_is_read_or_refused_with_a_format_error()
    {
        var seed = Encoding.UTF8.GetBytes("{0: 'person', 1: 'bicycle', 2: \"car\", 3: 'motor\\'cycle'}");
        var read = 0;
        FuzzInputs.NoiseOrDamaged(seed).Sample(
            bytes =>
            {
                try
                {
                    Assert.NotNull(PythonNamesLiteral.Parse(Encoding.UTF8.GetString(bytes)));
                    read++;
                }
                catch (FormatException)
                {
                }
            },
            iter: FuzzInputs.Iterations,
            threads: 1);

        Assert.True(read > 0, "no damaged literal was still readable");
    }
}
