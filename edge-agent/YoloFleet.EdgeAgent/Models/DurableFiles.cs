using System.Runtime.InteropServices;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// File changes that survive a power cut at any instant: the new content goes to a temporary file, which is forced to
/// disk and then renamed over the old name, and the folder holding both is forced to disk too (the rename itself lives
/// in the folder). A reader therefore sees either the old file or the new one, never a mix or a torn file.
/// </summary>
internal static partial class DurableFiles
{
    private const int ReadOnly = 0;
    private const int Directory = 0x10000; // O_DIRECTORY on Linux (x64 and arm64)

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> through "path.tmp", fsync, rename, fsync of the folder.</summary>
    /// <param name="beforeRename">Runs once the temporary file is on disk and before the rename (the test-only crash hook).</param>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes, Action? beforeRename = null)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        beforeRename?.Invoke();
        File.Move(temporary, path, overwrite: true);
        FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Forces a file's content to disk.</summary>
    public static void FlushFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Forces a folder's entries (names created, renamed or removed in it) to disk. .NET has no call for it: a folder is
    /// opened with open(2) and O_DIRECTORY and synced with fsync(2). A no-op off Linux.
    /// </summary>
    public static void FlushDirectory(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var descriptor = Open(path, ReadOnly | Directory);
        if (descriptor < 0)
        {
            throw new IOException($"Cannot open the folder '{path}' to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(descriptor) != 0)
            {
                throw new IOException($"fsync of the folder '{path}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int descriptor);
}
