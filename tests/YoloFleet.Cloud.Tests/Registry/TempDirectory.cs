namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("yolofleet-registry-tests-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
