using System.Security.Cryptography;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.Inference.Tests.Support;

/// <summary>Manifests for the crafted models, true to the model bytes unless a test changes them.</summary>
internal static class TestManifests
{
    public static ModelManifest For(byte[] modelBytes, string fileName) => new()
    {
        SchemaVersion = 1,
        Name = System.IO.Path.GetFileNameWithoutExtension(fileName),
        Version = "1.0.0",
        Model = new ManifestModelFile
        {
            File = fileName,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(modelBytes)),
            SizeBytes = modelBytes.Length,
        },
    };

    /// <summary>Writes <paramref name="manifest"/> beside the model, where Detector.Open finds it by itself.</summary>
    public static string WriteBeside(string modelPath, ModelManifest manifest)
    {
        var path = ModelManifest.PathBeside(modelPath);
        File.WriteAllText(path, manifest.ToJson());
        return path;
    }
}
