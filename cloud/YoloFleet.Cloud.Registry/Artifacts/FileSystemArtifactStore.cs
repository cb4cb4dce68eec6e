using System.Security.Cryptography;

namespace YoloFleet.Cloud.Registry.Artifacts;

/// <summary>
/// Artifacts as files named by their SHA-256 under <c>{root}/{first two hex digits}/{sha256}</c>. A put streams into a
/// temporary file in <c>{root}/tmp</c> while hashing, fsyncs it, then renames it into place: a reader sees a whole,
/// durable file or nothing, and a crash mid-put leaves only a temporary file (cleared at the next start).
/// </summary>
public sealed class FileSystemArtifactStore : IArtifactStore
{
    private const int BufferBytes = 1 << 16;

    private readonly string _root;
    private readonly string _temporary;

    public FileSystemArtifactStore(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        _root = Path.GetFullPath(root);
        _temporary = Path.Combine(_root, "tmp");
    }

    public string Root => _root;

    public async Task<StoredArtifact> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        Directory.CreateDirectory(_temporary);
        var temporary = Path.Combine(_temporary, Guid.NewGuid().ToString("N") + ".part");
        try
        {
            string sha256;
            long size;
            await using (var file = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 0,
                Options = FileOptions.Asynchronous,
            }))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[BufferBytes];
                size = 0;
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    size += read;
                }

                // Durable before it becomes visible: after the rename, nothing may see a file whose bytes are still in the page cache only.
                file.Flush(flushToDisk: true);
                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }

            var final = PathOf(sha256);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            if (File.Exists(final))
            {
                // Same bytes already stored (content addressing): keep the existing file.
                File.Delete(temporary);
                return new StoredArtifact(sha256, size);
            }

            try
            {
                File.Move(temporary, final, overwrite: false);
            }
            catch (IOException) when (File.Exists(final))
            {
                // Another put of the same bytes won the rename.
                File.Delete(temporary);
            }

            return new StoredArtifact(sha256, size);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public Task<StoredArtifact?> FindAsync(string sha256, CancellationToken cancellationToken = default)
    {
        var info = new FileInfo(PathOf(sha256));
        return Task.FromResult(info.Exists ? new StoredArtifact(Normalize(sha256), info.Length) : null);
    }

    public Task<bool> ExistsAsync(string sha256, CancellationToken cancellationToken = default) =>
        Task.FromResult(File.Exists(PathOf(sha256)));

    public Task<Stream> OpenReadAsync(string sha256, CancellationToken cancellationToken = default) =>
        Task.FromResult<Stream>(Open(sha256));

    public Task<Stream> OpenRangeAsync(string sha256, long offset, long length, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var file = Open(sha256);
        var size = file.Length;
        if (offset < 0 || offset > size)
        {
            file.Dispose();
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"The artifact has {size} bytes.");
        }

        file.Position = offset;
        return Task.FromResult<Stream>(new BoundedReadStream(file, Math.Min(length, file.Length - offset)));
    }

    /// <summary>Deletes temporary files older than <paramref name="age"/> (left by puts that a crash interrupted).</summary>
    public int ClearTemporaryFiles(TimeSpan age)
    {
        if (!Directory.Exists(_temporary))
        {
            return 0;
        }

        var cleared = 0;
        foreach (var file in new DirectoryInfo(_temporary).EnumerateFiles("*.part"))
        {
            if (DateTime.UtcNow - file.LastWriteTimeUtc > age && TryDelete(file.FullName))
            {
                cleared++;
            }
        }

        return cleared;
    }

    /// <summary>Where the artifact lives (or would live).</summary>
    /// <exception cref="ArgumentException">The text is not a SHA-256 (64 hex digits): no path is made from it.</exception>
    public string PathOf(string sha256)
    {
        var name = Normalize(sha256);
        return Path.Combine(_root, name[..2], name);
    }

    private FileStream Open(string sha256)
    {
        try
        {
            return new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, BufferBytes, FileOptions.Asynchronous);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(Normalize(sha256));
        }
    }

    private static string Normalize(string sha256) =>
        sha256 is { Length: 64 } && sha256.All(char.IsAsciiHexDigit)
            ? sha256.ToLowerInvariant()
            : throw new ArgumentException($"'{sha256}' is not a SHA-256 (64 hex digits).", nameof(sha256));

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Reads at most a given number of bytes from an inner stream, then ends; disposes it.</summary>
    private sealed class BoundedReadStream(Stream inner, long length) : Stream
    {
        private readonly long _length = length;
        private long _left = length;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => _length;

        public override long Position
        {
            get => _length - _left;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_left <= 0)
            {
                return 0;
            }

            var read = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_left <= 0)
            {
                return 0;
            }

            var read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken);
            _left -= read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
