using OpenCvSharp;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Sources;

/// <summary>A frame handed to the pipeline. The receiver disposes <see cref="Image"/>.</summary>
public sealed record CapturedFrame(Mat Image, string FrameRef, DateTimeOffset CapturedAt) : IDisposable
{
    public void Dispose() => Image.Dispose();
}

/// <summary>Reads the images of a folder in name order, optionally looping; unreadable files are skipped and counted.</summary>
public sealed class ImageFolderSource(string folder, bool loop, TimeProvider time)
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp"];

    public long UnreadableFiles { get; private set; }

    public IEnumerable<CapturedFrame> ReadFrames()
    {
        var files = Directory.EnumerateFiles(folder)
            .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0)
        {
            throw new InvalidOperationException($"The source folder '{folder}' holds no images ({string.Join(", ", Extensions)}).");
        }

        do
        {
            foreach (var file in files)
            {
                Mat image;
                try
                {
                    image = ImageFile.Read(file);
                }
                catch (ImageReadException)
                {
                    UnreadableFiles++;
                    continue;
                }

                yield return new CapturedFrame(image, Path.GetFileName(file), time.GetUtcNow());
            }
        }
        while (loop);
    }
}
