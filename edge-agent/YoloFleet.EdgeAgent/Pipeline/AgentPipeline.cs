using Google.Protobuf;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.EdgeAgent.Pipeline;

/// <summary>
/// Capture → detect → outbox, one frame at a time. Each frame becomes one DetectionsPublished message with the next
/// device sequence number, appended to the durable outbox; <see cref="Outbox.OutboxPublisher"/> sends it.
/// </summary>
public sealed partial class AgentPipeline(
    EdgeAgentOptions options,
    Detector detector,
    UpstreamWriter upstream,
    HardFramePolicy hardFrames,
    StageTimings timings,
    TimeProvider time,
    ILogger<AgentPipeline> logger)
{
    /// <summary>Called after each message was stored in the outbox (the demo prints from it; tests record it).</summary>
    public Func<DetectionsPublished, Task>? Published { get; set; }

    public long FramesPublished { get; private set; }

    public async Task RunAsync(ImageFolderSource source, CancellationToken cancellationToken)
    {
        var results = new List<YoloFleet.Inference.Detection>(64);
        var maxFrames = options.Source.MaxFrames;
        using var frames = source.ReadFrames().GetEnumerator();
        var interval = options.Source.MaxFps > 0 ? TimeSpan.FromSeconds(1 / options.Source.MaxFps) : TimeSpan.Zero;
        var nextFrameAt = time.GetTimestamp();
        while (true)
        {
            if (interval > TimeSpan.Zero)
            {
                // The frame-rate cap: wait for the frame's slot; a late frame starts at once and the schedule moves on.
                var wait = time.GetElapsedTime(time.GetTimestamp(), nextFrameAt);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, cancellationToken);
                }

                nextFrameAt = Math.Max(nextFrameAt, time.GetTimestamp() - (long)(interval.TotalSeconds * time.TimestampFrequency))
                    + (long)(interval.TotalSeconds * time.TimestampFrequency);
            }

            var captureStarted = time.GetTimestamp();
            if (!frames.MoveNext())
            {
                break;
            }

            using (var frame = frames.Current)
            {
                timings.Record(PipelineStage.Capture, time.GetElapsedTime(captureStarted).TotalMilliseconds);
                detector.Detect(frame.Image, results);
                var detected = detector.LastTimings;
                timings.Record(PipelineStage.Preprocess, detected.PreprocessMs);
                timings.Record(PipelineStage.Inference, detected.InferenceMs);
                timings.Record(PipelineStage.Postprocess, detected.PostprocessMs);

                var enqueueStarted = time.GetTimestamp();
                var message = BuildMessage(frame, results);
                upstream.Append(Topics.DetectionsKind, message, envelope => message.Envelope = envelope);
                var reason = hardFrames.Evaluate(results);
                if (reason != HardFrameReason.None)
                {
                    AppendHardFrame(frame, message, reason);
                }

                timings.Record(PipelineStage.Enqueue, time.GetElapsedTime(enqueueStarted).TotalMilliseconds);
                timings.FrameDone();
                FramesPublished++;
                if (Published is not null)
                {
                    await Published(message);
                }
            }

            if (maxFrames > 0 && FramesPublished >= maxFrames)
            {
                break;
            }

            cancellationToken.ThrowIfCancellationRequested();
        }

        LogFinished(FramesPublished, source.UnreadableFiles);
    }

    private DetectionsPublished BuildMessage(CapturedFrame frame, List<YoloFleet.Inference.Detection> results)
    {
        var message = new DetectionsPublished
        {
            CapturedAtUnixMs = frame.CapturedAt.ToUnixTimeMilliseconds(),
            ModelVersion = detector.Model.Version,
            FrameWidth = (uint)frame.Image.Width,
            FrameHeight = (uint)frame.Image.Height,
            InferenceMs = (float)detector.LastTimings.TotalMs,
            FrameRef = frame.FrameRef.Length <= ProtocolLimits.MaxFrameRefBytes ? frame.FrameRef : frame.FrameRef[..ProtocolLimits.MaxFrameRefBytes],
        };
        foreach (var d in results)
        {
            message.Detections.Add(new WireDetection { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 });
        }

        return message;
    }

    /// <summary>Hard frames too large for the protocol even as JPEG; skipped.</summary>
    public long HardFramesTooLarge { get; private set; }

    private void AppendHardFrame(CapturedFrame frame, DetectionsPublished detections, HardFrameReason reason)
    {
        Cv2.ImEncode(".jpg", frame.Image, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, options.HardFrames.JpegQuality));
        var upload = new HardFrameUploaded
        {
            DetectionsSequence = detections.Envelope.Sequence,
            CapturedAtUnixMs = detections.CapturedAtUnixMs,
            ModelVersion = detections.ModelVersion,
            Jpeg = ByteString.CopyFrom(jpeg),
            Reason = reason.ToString().ToLowerInvariant(),
        };
        upload.Detections.AddRange(detections.Detections);
        if (upload.CalculateSize() > ProtocolLimits.MaxHardFramePayloadBytes)
        {
            HardFramesTooLarge++;
            LogHardFrameTooLarge(frame.FrameRef, upload.CalculateSize());
            return;
        }

        upstream.Append(Topics.HardFramesKind, upload, envelope => upload.Envelope = envelope);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Hard frame {FrameRef} is {Bytes} bytes as JPEG, over the protocol limit; skipped (lower Agent:HardFrames:JpegQuality)")]
    private partial void LogHardFrameTooLarge(string frameRef, int bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source finished: {Frames} frames queued for publishing, {Unreadable} unreadable files skipped")]
    private partial void LogFinished(long frames, long unreadable);
}
