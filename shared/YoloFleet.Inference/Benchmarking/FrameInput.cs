using OpenCvSharp;

namespace YoloFleet.Inference.Benchmarking;

public enum FrameInputKind
{
    Image,
    Folder,
    Video,
}

/// <summary>One frame from a <see cref="FrameInput"/>: its file (the video for video frames), its number, and its pixels.</summary>
/// <param name="Image">8-bit BGR; owned by the input and valid only until the next frame is read.</param>
public readonly record struct InputFrame(string File, int Index, Mat Image);

/// <summary>
/// Frames from an image file, a folder of images (by name) or a video file (through OpenCV's VideoCapture, numbered from
/// 0). Opening checks that the path can be read, so a bad path fails before any work is done.
/// </summary>
public sealed class FrameInput : IDisposable
{
    private readonly IReadOnlyList<string> _files;
    private readonly VideoCapture? _video;
    private readonly Mat _videoFrame = new();

    private FrameInput(string path, FrameInputKind kind, IReadOnlyList<string> files, VideoCapture? video)
    {
        Path = path;
        Kind = kind;
        _files = files;
        _video = video;
    }

    public string Path { get; }

    public FrameInputKind Kind { get; }

    /// <summary>Frames expected: the image count, or the frame count the video's container claims (0 when unknown).</summary>
    public int ExpectedFrames => _video is null ? _files.Count : Math.Max(0, (int)_video.Get(VideoCaptureProperties.FrameCount));

    /// <summary>Images that could not be decoded while reading a folder, with the reason; they are skipped.</summary>
    public List<(string File, string Reason)> Skipped { get; } = [];

    /// <exception cref="ImageReadException">The path does not exist, or is an empty folder, or a file OpenCV reads neither as an image nor as a video.</exception>
    public static FrameInput Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            var files = BenchmarkImages.ImageFilesIn(fullPath).ToList();
            return files.Count > 0
                ? new FrameInput(fullPath, FrameInputKind.Folder, files, null)
                : throw new ImageReadException(fullPath, $"Folder '{fullPath}' holds no image files (.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff).");
        }

        if (!File.Exists(fullPath))
        {
            throw new ImageReadException(fullPath, $"Input not found: '{fullPath}'. Pass an image, a folder of images or a video file.");
        }

        if (Cv2.HaveImageReader(fullPath))
        {
            // Decode it now, so that a truncated image fails at open like any other unreadable input.
            ImageFile.Read(fullPath).Dispose();
            return new FrameInput(fullPath, FrameInputKind.Image, [fullPath], null);
        }

        var video = new VideoCapture(fullPath);
        if (!video.IsOpened())
        {
            video.Dispose();
            throw new ImageReadException(fullPath, $"'{fullPath}' is neither an image nor a video that OpenCV can read.");
        }

        return new FrameInput(fullPath, FrameInputKind.Video, [], video);
    }

    /// <summary>The frames in order. Each frame's Mat is reused or disposed once the enumeration moves on.</summary>
    /// <exception cref="ImageReadException">A single image or a video yields no frame at all.</exception>
    public IEnumerable<InputFrame> Frames()
    {
        if (_video is not null)
        {
            var index = 0;
            while (_video.Read(_videoFrame) && !_videoFrame.Empty())
            {
                yield return new InputFrame(Path, index++, _videoFrame);
            }

            if (index == 0)
            {
                throw new ImageReadException(Path, $"Video '{Path}' opened but no frame could be decoded from it.");
            }

            yield break;
        }

        for (var i = 0; i < _files.Count; i++)
        {
            Mat image;
            try
            {
                image = ImageFile.Read(_files[i]);
            }
            catch (ImageReadException ex) when (Kind == FrameInputKind.Folder)
            {
                Skipped.Add((_files[i], ex.Message));
                continue;
            }

            using (image)
            {
                yield return new InputFrame(_files[i], i, image);
            }
        }
    }

    public void Dispose()
    {
        _video?.Dispose();
        _videoFrame.Dispose();
    }
}
