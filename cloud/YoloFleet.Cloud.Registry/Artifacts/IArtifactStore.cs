namespace YoloFleet.Cloud.Registry.Artifacts;

/// <summary>An artifact as stored: its SHA-256 (hex, lower case), which is its name, and its size.</summary>
public sealed record StoredArtifact(string Sha256, long SizeBytes);

/// <summary>
/// Model files by content: an artifact's name is its SHA-256, so the same bytes are stored once, a stored artifact
/// never changes, and anyone holding the hash can check what they received. One implementation keeps files on disk
/// (<see cref="FileSystemArtifactStore"/>); an object store would implement the same.
/// </summary>
public interface IArtifactStore
{
    /// <summary>
    /// Stores <paramref name="content"/> and returns its hash and size. Storing bytes that are already there changes
    /// nothing. The artifact becomes visible only once it is complete and durable.
    /// </summary>
    Task<StoredArtifact> PutAsync(Stream content, CancellationToken cancellationToken = default);

    /// <summary>The artifact's size, or null when it is not stored.</summary>
    Task<StoredArtifact?> FindAsync(string sha256, CancellationToken cancellationToken = default);

    /// <summary>Whether the artifact is stored.</summary>
    Task<bool> ExistsAsync(string sha256, CancellationToken cancellationToken = default);

    /// <summary>The whole artifact, as a seekable stream where the store can give one (HTTP Range requests need it).</summary>
    /// <exception cref="ArtifactNotFoundException">It is not stored.</exception>
    Task<Stream> OpenReadAsync(string sha256, CancellationToken cancellationToken = default);

    /// <summary><paramref name="length"/> bytes from <paramref name="offset"/> (fewer at the end of the artifact).</summary>
    /// <exception cref="ArtifactNotFoundException">It is not stored.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The offset is outside the artifact.</exception>
    Task<Stream> OpenRangeAsync(string sha256, long offset, long length, CancellationToken cancellationToken = default);
}

/// <summary>The artifact store holds nothing under this hash.</summary>
public sealed class ArtifactNotFoundException(string sha256)
    : Exception($"No artifact with SHA-256 {sha256} is stored.")
{
    public string Sha256 { get; } = sha256;
}
