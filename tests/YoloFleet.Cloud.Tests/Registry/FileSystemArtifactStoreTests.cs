using System.Security.Cryptography;
using YoloFleet.Cloud.Registry.Artifacts;

namespace YoloFleet.Cloud.Tests.Registry;

/// <summary>Content-addressed artifacts on disk: stored whole by hash, read whole or by range, never half-written.</summary>
public sealed class FileSystemArtifactStoreTests : IDisposable
{
    private readonly TempDirectory _root = new();

    public void Dispose() => _root.Dispose();

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task A_put_names_the_artifact_by_its_sha256_and_stores_the_same_bytes_once()
    {
        var store = new FileSystemArtifactStore(_root.Path);
        var content = Bytes(300_000, 1);
        var expected = Convert.ToHexStringLower(SHA256.HashData(content));

        var first = await store.PutAsync(new MemoryStream(content));
        var again = await store.PutAsync(new MemoryStream(content));

        Assert.Equal(new StoredArtifact(expected, content.Length), first);
        Assert.Equal(first, again);
        Assert.True(await store.ExistsAsync(expected));
        Assert.Equal(first, await store.FindAsync(expected.ToUpperInvariant()));
        Assert.Equal(content, await File.ReadAllBytesAsync(store.PathOf(expected)));
        Assert.Single(Directory.GetFiles(_root.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_range_read_gives_the_same_bytes_as_the_whole_file_from_that_offset()
    {
        var store = new FileSystemArtifactStore(_root.Path);
        var content = Bytes(200_003, 2);
        var artifact = await store.PutAsync(new MemoryStream(content));

        await using (var whole = await store.OpenReadAsync(artifact.Sha256))
        {
            Assert.True(whole.CanSeek);
            Assert.Equal(content.Length, whole.Length);
        }

        foreach (var (offset, length) in new (long, long)[] { (0, 10), (123_456, 50_000), (200_000, 100), (200_003, 10) })
        {
            await using var range = await store.OpenRangeAsync(artifact.Sha256, offset, length);
            using var copy = new MemoryStream();
            await range.CopyToAsync(copy);
            Assert.Equal(content.AsSpan((int)offset, (int)Math.Min(length, content.Length - offset)).ToArray(), copy.ToArray());
        }

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.OpenRangeAsync(artifact.Sha256, content.Length + 1, 1));
    }

    [Fact]
    public async Task Unknown_and_malformed_names_are_refused_without_touching_the_disk_outside_the_store()
    {
        var store = new FileSystemArtifactStore(_root.Path);

        Assert.False(await store.ExistsAsync(new string('e', 64)));
        Assert.Null(await store.FindAsync(new string('e', 64)));
        var missing = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.OpenReadAsync(new string('e', 64)));
        Assert.Contains(new string('e', 64), missing.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => store.PathOf("../../etc/passwd"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.OpenReadAsync(new string('g', 64)));
    }

    [Fact]
    public async Task A_put_that_fails_midway_leaves_no_artifact_and_no_temporary_file()
    {
        var store = new FileSystemArtifactStore(_root.Path);

        await Assert.ThrowsAsync<IOException>(() => store.PutAsync(new FailingStream(Bytes(100_000, 3), failAfter: 70_000)));

        Assert.Empty(Directory.GetFiles(_root.Path, "*", SearchOption.AllDirectories));
        Assert.Equal(0, store.ClearTemporaryFiles(TimeSpan.Zero));
    }

    /// <summary>A source that breaks partway, as an upload cut off by the network does.</summary>
    private sealed class FailingStream(byte[] content, int failAfter) : MemoryStream(content)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= failAfter ? throw new IOException("connection reset") : base.ReadAsync(buffer, cancellationToken);
    }
}
