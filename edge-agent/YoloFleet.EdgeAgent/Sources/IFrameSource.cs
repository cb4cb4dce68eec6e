using OpenCvSharp;

namespace YoloFleet.EdgeAgent.Sources;

/// <summary>A frame handed to the pipeline. The receiver disposes <see cref="Image"/>.</summary>
public sealed record CapturedFrame(Mat Image, string FrameRef, DateTimeOffset CapturedAt) : IDisposable
{
    public void Dispose() => Image.Dispose();
}

/// <summary>Where the pipeline's frames come from: an image folder, a video file, a stream or a camera.</summary>
public interface IFrameSource : IDisposable
{
    /// <summary>What it reads, for logs and errors ("camera '/dev/video0'").</summary>
    string Description { get; }

    /// <summary>
    /// A live source (camera, stream) produces frames whether or not the pipeline takes them, so under load the newest
    /// frame wins and older ones are dropped and counted. A finite one (folder, file) waits for the pipeline instead.
    /// </summary>
    bool IsLive { get; }

    /// <summary>Single frames that could not be decoded and were skipped.</summary>
    long UnreadableFrames { get; }

    /// <summary>
    /// The frames, read as they are enumerated (blocking). Ends when a finite source is exhausted; throws
    /// <see cref="SourceUnavailableException"/> when the source is lost or cannot be opened, and the caller retries.
    /// </summary>
    IEnumerable<CapturedFrame> ReadFrames();
}

/// <summary>The frame source cannot deliver frames right now (camera unplugged, stream down, folder gone).</summary>
public sealed class SourceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
