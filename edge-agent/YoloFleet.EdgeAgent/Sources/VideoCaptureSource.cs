using System.Globalization;
using OpenCvSharp;

namespace YoloFleet.EdgeAgent.Sources;

/// <summary>What a <see cref="VideoCaptureSource"/> reads.</summary>
public enum VideoSourceKind
{
    /// <summary>A video file: finite (optionally looping), read at the pipeline's pace.</summary>
    File,

    /// <summary>An RTSP or HTTP stream: live; it ending is a lost source.</summary>
    Stream,

    /// <summary>A V4L2 camera (/dev/videoN or the index N): live.</summary>
    Camera,
}

/// <summary>
/// Frames from OpenCV's VideoCapture: a video file, an RTSP/HTTP stream (FFmpeg) or a V4L2 camera. A source that cannot
/// be opened, or a stream or camera that stops delivering, throws <see cref="SourceUnavailableException"/> with the
/// reason, and the worker retries with back-off.
/// </summary>
public sealed class VideoCaptureSource : IFrameSource
{
    // OpenCV's CAP_PROP_OPEN_TIMEOUT_MSEC and CAP_PROP_READ_TIMEOUT_MSEC (FFmpeg backend); OpenCvSharp's enum lacks them.
    private const int OpenTimeoutProperty = 53;
    private const int ReadTimeoutProperty = 54;
    private const int StreamTimeoutMs = 10_000;

    private readonly VideoSourceKind _kind;
    private readonly string _target;
    private readonly bool _loop;
    private readonly TimeProvider _time;
    private readonly string _frameRefPrefix;

    public VideoCaptureSource(VideoSourceKind kind, string target, bool loop, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        _kind = kind;
        _target = kind == VideoSourceKind.Camera ? CameraDevicePath(target) : target;
        _loop = loop && kind == VideoSourceKind.File;
        _time = time;
        _frameRefPrefix = kind == VideoSourceKind.File ? Path.GetFileName(target) : kind.ToString().ToLowerInvariant();
        Description = kind switch
        {
            VideoSourceKind.File => $"video file '{target}'",
            VideoSourceKind.Stream => $"stream '{target}'",
            _ => $"camera '{_target}'",
        };
    }

    public string Description { get; }

    public bool IsLive => _kind != VideoSourceKind.File;

    /// <summary>OpenCV reports a bad frame as the end of the stream, so nothing is counted here.</summary>
    public long UnreadableFrames => 0;

    /// <summary>"/dev/video2" stays as it is; "2" means /dev/video2 (OpenCV's index on Linux).</summary>
    public static string CameraDevicePath(string device) =>
        int.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? $"/dev/video{index}" : device;

    public IEnumerable<CapturedFrame> ReadFrames()
    {
        var capture = Open();
        try
        {
            long index = 0;
            long framesThisPass = 0;
            while (true)
            {
                var image = ReadOne(capture);
                if (image is null)
                {
                    if (_kind != VideoSourceKind.File)
                    {
                        throw new SourceUnavailableException($"The {Description} stopped delivering frames (stream ended, or device unplugged).");
                    }

                    if (framesThisPass == 0)
                    {
                        throw new SourceUnavailableException($"The {Description} holds no frames that this OpenCV build can decode.");
                    }

                    if (!_loop)
                    {
                        yield break;
                    }

                    // Seeking back is unreliable for some containers; opening again is not.
                    capture.Dispose();
                    capture = Open();
                    framesThisPass = 0;
                    continue;
                }

                index++;
                framesThisPass++;
                yield return new CapturedFrame(image, $"{_frameRefPrefix}#{index}", _time.GetUtcNow());
            }
        }
        finally
        {
            capture.Dispose();
        }
    }

    public void Dispose()
    {
    }

    private Mat? ReadOne(VideoCapture capture)
    {
        var image = new Mat();
        try
        {
            if (capture.Read(image) && !image.Empty())
            {
                return image;
            }
        }
        catch (OpenCVException ex)
        {
            image.Dispose();
            throw new SourceUnavailableException($"The {Description} failed to deliver a frame: {ex.Message}", ex);
        }

        image.Dispose();
        return null;
    }

    private VideoCapture Open()
    {
        switch (_kind)
        {
            case VideoSourceKind.File when !File.Exists(_target):
                throw new SourceUnavailableException($"The video file '{_target}' does not exist.");
            case VideoSourceKind.Camera when !File.Exists(_target):
                throw new SourceUnavailableException(
                    $"The camera '{_target}' does not exist: no such V4L2 device. Is it plugged in? (ls /dev/video*; set Agent:Source:Camera)");
        }

        var capture = _kind switch
        {
            VideoSourceKind.Camera => new VideoCapture(_target, VideoCaptureAPIs.V4L2),
            VideoSourceKind.Stream => new VideoCapture(_target, VideoCaptureAPIs.FFMPEG, [OpenTimeoutProperty, StreamTimeoutMs, ReadTimeoutProperty, StreamTimeoutMs]),
            _ => new VideoCapture(_target, VideoCaptureAPIs.ANY),
        };
        if (capture.IsOpened())
        {
            return capture;
        }

        capture.Dispose();
        throw new SourceUnavailableException(_kind switch
        {
            VideoSourceKind.Camera => $"The camera '{_target}' exists but cannot be opened: busy, not a capture device, or no permission (the agent's user needs the 'video' group).",
            VideoSourceKind.Stream => $"The stream '{_target}' cannot be opened (unreachable, refused, or not a stream FFmpeg can read).",
            _ => $"The video file '{_target}' cannot be opened: damaged, or a codec this OpenCV build cannot decode.",
        });
    }
}
