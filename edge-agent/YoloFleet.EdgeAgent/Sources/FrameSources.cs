namespace YoloFleet.EdgeAgent.Sources;

/// <summary>Makes the frame source that Agent:Source names (validation has checked that exactly one is set).</summary>
public static class FrameSources
{
    public static IFrameSource Open(SourceOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!string.IsNullOrWhiteSpace(options.Video))
        {
            return new VideoCaptureSource(VideoSourceKind.File, options.Video, options.Loop, time);
        }

        if (!string.IsNullOrWhiteSpace(options.Stream))
        {
            return new VideoCaptureSource(VideoSourceKind.Stream, options.Stream, loop: false, time);
        }

        if (!string.IsNullOrWhiteSpace(options.Camera))
        {
            return new VideoCaptureSource(VideoSourceKind.Camera, options.Camera, loop: false, time);
        }

        return new ImageFolderSource(options.Folder, options.Loop, time);
    }
}
