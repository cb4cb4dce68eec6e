using OpenCvSharp;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Sources;

/// <summary>Reads the images of a folder in name order, optionally looping; unreadable files are skipped and counted.</summary>
public sealed class ImageFolderSource(string folder, bool loop, TimeProvider time) : IFrameSource
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp"];

    public long UnreadableFiles { get; private set; }

    public string Description => $"image folder '{folder}'";

    /// <summary>Files wait for the pipeline: no frame is dropped.</summary>
    public bool IsLive => false;

    long IFrameSource.UnreadableFrames => UnreadableFiles;

    public void Dispose()
    {
    }

    /// <summary>
    /// The frames, in name order, once or round and round. Throws <see cref="SourceUnavailableException"/> when the
    /// folder is gone or holds no images; the caller retries.
    /// </summary>
    public IEnumerable<CapturedFrame> ReadFrames()
    {
        do
        {
            foreach (var file in ListImages())
            {
                Mat image;
                try
                {
                    image = ImageFile.Read(file);
                }
                catch (ImageReadException) when (Directory.Exists(folder))
                {
                    UnreadableFiles++;
                    continue;
                }
                catch (ImageReadException ex)
                {
                    throw new SourceUnavailableException($"The image folder '{folder}' disappeared.", ex);
                }

                yield return new CapturedFrame(image, Path.GetFileName(file), time.GetUtcNow());
            }
        }
        while (loop);
    }

    private string[] ListImages()
    {
        string[] files;
        try
        {
            files = [.. Directory.EnumerateFiles(folder)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            throw new SourceUnavailableException($"The image folder '{folder}' cannot be read: {ex.Message}", ex);
        }

        return files.Length > 0
            ? files
            : throw new SourceUnavailableException($"The image folder '{folder}' holds no images ({string.Join(", ", Extensions)}).");
    }
}
