using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Scene;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.EdgeAgent.Pipeline;

/// <summary>
/// Capture → preprocess → infer → postprocess and publish, four stages joined by bounded channels so that they overlap:
/// while frame N infers, frame N+1 is captured and preprocessed and frame N-1 is decoded and stored. Each frame in
/// flight owns one of <see cref="PipelineOptions.Slots"/> detector slots (its own input and output buffers, made once),
/// so the steady state allocates no new tensors. Each frame becomes one DetectionsPublished message with the next device
/// sequence number, appended to the durable outbox in frame order by the one publish stage;
/// <see cref="Outbox.OutboxPublisher"/> sends it.
/// A live source (camera, stream) never waits for the pipeline: the capture channel holds one frame and a newer one
/// replaces it (newest wins), and each frame replaced is counted in <see cref="StageTimings.Dropped"/>.
/// The detector comes from <see cref="RunningDetector"/> frame by frame: a model swap takes effect at the next frame
/// preprocessed, frames in flight finish on the detector they started with, and a slot bound to an older detector is
/// bound again to the new one when it is next used.
/// With a scene (Agent:Scene Mode MotionGated, or Agent:ObjectEvents on; <see cref="SceneStage"/>): MotionGated, the
/// preprocess stage lets the scene decide per frame whether and where the detector runs (the scene's frames must be
/// planned in order, each after the previous one's tracking, so the detector does not overlap with itself then) and the
/// frame's message carries the tracked objects; WholeFrame, the stages run as without a scene and the publish stage
/// hands each frame's detections to the tracker. Object events go through the same outbox; Agent:Detection:Publish
/// decides which frames still get a detections message.
/// </summary>
public sealed partial class AgentPipeline(
    EdgeAgentOptions options,
    RunningDetector detectors,
    UpstreamWriter upstream,
    HardFramePolicy hardFrames,
    StageTimings timings,
    PipelineLiveness liveness,
    ThrottleMonitor throttle,
    TimeProvider time,
    ILogger<AgentPipeline> logger,
    YoloFleet.EdgeAgent.Shadow.ShadowRunner? shadow = null)
{
    private readonly List<PipelineSlot> _slots = [];
    private long _framesPublished;

    // This run's throughput, from its first published frame to its last, and the inference stage's own time.
    private long _runFrames;
    private long _firstPublishedAt;
    private long _lastPublishedAt;
    private double _inferenceMsTotal;

    // The camera's scene, made on the first run and kept across source retries; null without one.
    private SceneStage? _scene;
    private bool _sceneMade;
    private DateTimeOffset? _nextSampleAt;

    /// <summary>Called after each message was stored in the outbox (the demo prints from it; tests record it).</summary>
    public Func<DetectionsPublished, Task>? Published { get; set; }

    public long FramesPublished => Interlocked.Read(ref _framesPublished);

    /// <summary>The camera's scene (null until the first run, and without one).</summary>
    public SceneStage? Scene => _scene;

    /// <summary>Detections messages stored in the outbox (with Agent:Detection:Publish Sampled or None, fewer than frames).</summary>
    public long DetectionMessages { get; private set; }

    /// <summary>
    /// Runs the source through the stages until it ends, <see cref="SourceOptions.MaxFrames"/> is reached, or
    /// <paramref name="cancellationToken"/> fires. Frames already captured when the source is lost are still
    /// published; then <see cref="SourceUnavailableException"/> is thrown for the caller to retry.
    /// </summary>
    public async Task RunAsync(IFrameSource source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        MakeScene();
        var slots = RentSlots();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var captured = Channel.CreateBounded<CapturedItem>(
            new BoundedChannelOptions(1)
            {
                FullMode = source.IsLive ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
                SingleReader = true,
                SingleWriter = true,
            },
            dropped =>
            {
                dropped.Frame.Dispose();
                timings.FrameDropped();
            });
        var free = Channel.CreateBounded<PipelineSlot>(new BoundedChannelOptions(slots.Count) { SingleReader = true, SingleWriter = true });
        var toInfer = Channel.CreateBounded<PipelineSlot>(new BoundedChannelOptions(slots.Count) { SingleReader = true, SingleWriter = true });
        var toPublish = Channel.CreateBounded<PipelineSlot>(new BoundedChannelOptions(slots.Count) { SingleReader = true, SingleWriter = true });
        foreach (var slot in slots)
        {
            free.Writer.TryWrite(slot);
        }

        _runFrames = 0;
        _inferenceMsTotal = 0;
        SourceUnavailableException? lost = null;
        var stages = new[]
        {
            Stage(stop, () => CaptureAsync(source, captured.Writer, error => lost = error, stop.Token), blocking: true),
            Stage(stop, () => PreprocessAsync(captured.Reader, free.Reader, toInfer.Writer, stop.Token)),
            Stage(stop, () => InferAsync(toInfer.Reader, toPublish.Writer, stop.Token)),
            Stage(stop, () => PublishAsync(toPublish.Reader, free.Writer, stop, stop.Token)),
        };
        try
        {
            await Task.WhenAll(stages);
        }
        catch (Exception) when (stages.All(stage => stage.IsCompleted))
        {
            // Inspected below: the first real failure wins over the cancellations it caused.
        }
        finally
        {
            while (captured.Reader.TryRead(out var left))
            {
                left.Frame.Dispose();
            }

            foreach (var slot in slots)
            {
                slot.Release();
            }
        }

        if (stages.Select(stage => stage.Exception?.InnerException).FirstOrDefault(ex => ex is not null and not OperationCanceledException) is { } failure)
        {
            // A failed pipeline is a crash as far as the scene goes: its open objects end at the next start.
            cancellationToken.ThrowIfCancellationRequested();
            ExceptionDispatchInfo.Throw(failure);
        }

        // The camera stops (source ended or lost, or the agent stops): every object it follows ends now, and the shadow
        // window under way goes up partial (the stages are done, so nothing else touches the runner).
        StopScene();
        shadow?.Flush();
        cancellationToken.ThrowIfCancellationRequested();

        if (lost is not null)
        {
            throw lost;
        }

        LogFinished(FramesPublished, source.UnreadableFrames, timings.Dropped);
        if (_runFrames > 1)
        {
            var seconds = time.GetElapsedTime(_firstPublishedAt, _lastPublishedAt).TotalSeconds;
            var inferenceMs = _inferenceMsTotal / _runFrames;
            LogThroughput(_runFrames, slots.Count, (_runFrames - 1) / seconds, 1000 / inferenceMs, inferenceMs);
        }
    }

    /// <summary>
    /// Runs a stage; its failure stops the others. A <paramref name="blocking"/> stage (capture: OpenCV reads block until
    /// the camera's next frame) starts on a thread of its own rather than holding a pool thread.
    /// </summary>
    private static Task Stage(CancellationTokenSource stop, Func<Task> run, bool blocking = false)
    {
        async Task Guarded()
        {
            try
            {
                await run();
            }
            catch
            {
                await stop.CancelAsync();
                throw;
            }
        }

        return blocking
            ? Task.Factory.StartNew(Guarded, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()
            : Task.Run(Guarded);
    }

    private List<PipelineSlot> RentSlots()
    {
        while (_slots.Count < options.Pipeline.Slots)
        {
            _slots.Add(new PipelineSlot(detectors));
        }

        return _slots;
    }

    /// <summary>Reads frames (blocking reads of a file, a stream or a camera) into the one-frame capture channel.</summary>
    private async Task CaptureAsync(
        IFrameSource source, ChannelWriter<CapturedItem> captured, Action<SourceUnavailableException> onLost, CancellationToken cancellationToken)
    {
        try
        {
            using var frames = source.ReadFrames().GetEnumerator();
            while (!cancellationToken.IsCancellationRequested)
            {
                var started = time.GetTimestamp();
                if (!frames.MoveNext())
                {
                    break;
                }

                var item = new CapturedItem(frames.Current, time.GetElapsedTime(started).TotalMilliseconds);
                if (source.IsLive)
                {
                    // DropOldest: always accepted; the frame it replaces goes to the drop callback.
                    captured.TryWrite(item);
                }
                else
                {
                    try
                    {
                        await captured.WriteAsync(item, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        item.Frame.Dispose();
                        throw;
                    }
                }
            }
        }
        catch (SourceUnavailableException ex)
        {
            // Frames already captured still go through; the run then reports the loss.
            onLost(ex);
        }
        finally
        {
            captured.TryComplete();
        }
    }

    private async Task PreprocessAsync(
        ChannelReader<CapturedItem> captured, ChannelReader<PipelineSlot> free, ChannelWriter<PipelineSlot> toInfer, CancellationToken cancellationToken)
    {
        var interval = options.Source.MaxFps > 0 ? TimeSpan.FromSeconds(1 / options.Source.MaxFps) : TimeSpan.Zero;
        var intervalTicks = (long)(interval.TotalSeconds * time.TimestampFrequency);
        var nextFrameAt = time.GetTimestamp();
        try
        {
            while (true)
            {
                // A free slot first, then the frame: under load the frame taken is the newest one the source has.
                var slot = await free.ReadAsync(cancellationToken);
                if (!await captured.WaitToReadAsync(cancellationToken))
                {
                    break;
                }

                if (intervalTicks > 0)
                {
                    // The frame-rate cap: wait for the frame's slot; a late frame starts at once and the schedule moves on.
                    var wait = time.GetElapsedTime(time.GetTimestamp(), nextFrameAt);
                    if (wait > TimeSpan.Zero)
                    {
                        liveness.ExpectQuietFor(wait);
                        await Task.Delay(wait, time, cancellationToken);
                    }

                    nextFrameAt = Math.Max(nextFrameAt, time.GetTimestamp() - intervalTicks) + intervalTicks;
                }

                if (!captured.TryRead(out var item))
                {
                    break;
                }

                slot.Frame = item.Frame;
                slot.CaptureMs = item.CaptureMs;
                var generation = slot.Begin();
                if (_scene is { GatesDetector: true })
                {
                    // The scene plans, runs the detector where it decided, and tracks, in frame order.
                    _scene.Detect(item.Frame.Image, item.Frame.CapturedAt, generation.Detector, slot.Scene);
                }
                else
                {
                    generation.Detector.Preprocess(item.Frame.Image, slot.Detector);
                }

                await toInfer.WriteAsync(slot, cancellationToken);
            }
        }
        finally
        {
            toInfer.TryComplete();
        }
    }

    private async Task InferAsync(ChannelReader<PipelineSlot> toInfer, ChannelWriter<PipelineSlot> toPublish, CancellationToken cancellationToken)
    {
        try
        {
            while (await toInfer.WaitToReadAsync(cancellationToken))
            {
                while (toInfer.TryRead(out var slot))
                {
                    if (_scene is not { GatesDetector: true })
                    {
                        slot.Generation!.Detector.Infer(slot.Detector);
                    }

                    await toPublish.WriteAsync(slot, cancellationToken);
                }
            }
        }
        finally
        {
            toPublish.TryComplete();
        }
    }

    private async Task PublishAsync(
        ChannelReader<PipelineSlot> toPublish, ChannelWriter<PipelineSlot> free, CancellationTokenSource stop, CancellationToken cancellationToken)
    {
        var results = new List<YoloFleet.Inference.Detection>(64);
        var maxFrames = options.Source.MaxFrames;
        while (await toPublish.WaitToReadAsync(cancellationToken))
        {
            while (toPublish.TryRead(out var slot))
            {
                var frame = slot.Frame!;
                var generation = slot.Generation!;
                timings.Record(PipelineStage.Capture, slot.CaptureMs);
                FrameTimings detected;
                List<YoloFleet.Inference.Detection> boxes;
                if (_scene is { GatesDetector: true })
                {
                    // The scene's frame: its detector time, and the objects it tracks (detected here or carried).
                    var step = slot.Scene;
                    detected = new FrameTimings(0, step.Milliseconds, 0);
                    if (step.DetectorRan)
                    {
                        timings.Record(PipelineStage.Inference, step.Milliseconds);
                    }

                    if (step.Plan == YoloFleet.Inference.Scene.DetectionPlanKind.WholeFrame)
                    {
                        // The model's own latency record keeps to whole frames: crops and tiles cost other multiples.
                        generation.RecordFrame(step.Milliseconds);
                    }

                    boxes = step.Objects;
                }
                else
                {
                    generation.Detector.Postprocess(slot.Detector, results);
                    detected = slot.Detector.Timings;
                    generation.RecordFrame(detected.TotalMs);
                    timings.Record(PipelineStage.Preprocess, detected.PreprocessMs);
                    timings.Record(PipelineStage.Inference, detected.InferenceMs);
                    timings.Record(PipelineStage.Postprocess, detected.PostprocessMs);
                    _scene?.Observe(frame.Image, frame.CapturedAt, results, slot.Scene);
                    boxes = results;
                }

                var enqueueStarted = time.GetTimestamp();
                DetectionsPublished? message = null;

                // Hard frames and shadow mode judge the detector's own boxes of the whole frame (the verifier, and the
                // candidate in shadow, compare them with their own of the same whole frame).
                var wholeFrame = _scene is not { GatesDetector: true } || slot.Scene.Plan == YoloFleet.Inference.Scene.DetectionPlanKind.WholeFrame;
                var judged = _scene is { GatesDetector: true } ? slot.Scene.Detected : results;
                if (PublishesDetections(frame.CapturedAt))
                {
                    message = BuildMessage(frame, boxes, detected, generation.Model);
                    upstream.Append(Topics.DetectionsKind, message, envelope => message.Envelope = envelope);
                    DetectionMessages++;

                    var reason = wholeFrame ? hardFrames.Evaluate(judged) : HardFrameReason.None;
                    if (reason != HardFrameReason.None)
                    {
                        AppendHardFrame(frame, message, judged, reason);
                    }
                }

                if (_scene is not null)
                {
                    _scene.Emit(slot.Scene, upstream, generation.Model);
                }

                // Shadow mode: the candidate (if one runs in shadow) on a sampled share of the published whole frames (its
                // disagreement hard frames refer to the frame's message), within its CPU budget.
                if (shadow is not null && message is not null && wholeFrame)
                {
                    shadow.OnFrame(frame, judged, message, detected.TotalMs);
                }

                timings.Record(PipelineStage.Enqueue, time.GetElapsedTime(enqueueStarted).TotalMilliseconds);
                timings.FrameDone();
                liveness.Progress();
                _lastPublishedAt = time.GetTimestamp();
                if (_runFrames++ == 0)
                {
                    _firstPublishedAt = _lastPublishedAt;
                }

                _inferenceMsTotal += detected.InferenceMs;
                var published = Interlocked.Increment(ref _framesPublished);
                slot.Release();
                free.TryWrite(slot);
                if (Published is not null && message is not null)
                {
                    await Published(message);
                }

                if (maxFrames > 0 && published >= maxFrames)
                {
                    // Frames still in flight are discarded: the run asked for exactly this many.
                    await stop.CancelAsync();
                    return;
                }
            }
        }
    }

    private DetectionsPublished BuildMessage(CapturedFrame frame, List<YoloFleet.Inference.Detection> results, FrameTimings detected, RunningModel model)
    {
        var message = new DetectionsPublished
        {
            CapturedAtUnixMs = frame.CapturedAt.ToUnixTimeMilliseconds(),
            ModelVersion = model.Version,
            ModelSha256 = model.Sha256,
            Throttled = throttle.IsThrottled,
            FrameWidth = (uint)frame.Image.Width,
            FrameHeight = (uint)frame.Image.Height,
            InferenceMs = (float)detected.TotalMs,
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

    private void AppendHardFrame(CapturedFrame frame, DetectionsPublished detections, List<YoloFleet.Inference.Detection> judged, HardFrameReason reason)
    {
        Cv2.ImEncode(".jpg", frame.Image, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, options.HardFrames.JpegQuality));
        var upload = new HardFrameUploaded
        {
            DetectionsSequence = detections.Envelope.Sequence,
            CapturedAtUnixMs = detections.CapturedAtUnixMs,
            ModelVersion = detections.ModelVersion,
            ModelSha256 = detections.ModelSha256,
            Jpeg = ByteString.CopyFrom(jpeg),
            Reason = reason.ToString().ToLowerInvariant(),
        };
        foreach (var d in judged)
        {
            upload.Detections.Add(new WireDetection { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 });
        }

        if (upload.CalculateSize() > ProtocolLimits.MaxHardFramePayloadBytes)
        {
            HardFramesTooLarge++;
            LogHardFrameTooLarge(frame.FrameRef, upload.CalculateSize());
            return;
        }

        upstream.Append(Topics.HardFramesKind, upload, envelope => upload.Envelope = envelope);
    }

    /// <summary>Makes the scene on the first run when the configuration asks for one, and ends what a crash left open.</summary>
    private void MakeScene()
    {
        if (_sceneMade)
        {
            return;
        }

        _sceneMade = true;
        var settings = options.Scene;
        if (settings.Mode != YoloFleet.Inference.Scene.SceneMode.MotionGated && !options.ObjectEvents.Enabled)
        {
            return;
        }

        OpenObjectStore? store = null;
        if (options.ObjectEvents.Enabled)
        {
            store = new OpenObjectStore(options.StateDirectory);
            if (store.LoadError.Length > 0)
            {
                LogOpenObjectsDamaged(store.LoadError);
            }
        }

        var model = detectors.Current.Detector.Model;
        _scene = new SceneStage(
            settings.ToOptions(EdgeAgentOptions.Section + ":Scene"), options.ObjectEvents, store, time, model.InputWidth, model.InputHeight);
        var recovered = _scene.RecoverOpenObjects(upstream);
        if (recovered > 0)
        {
            LogRecovered(recovered);
        }

        LogScene(settings.Mode, options.ObjectEvents.Enabled, options.Detection.Publish);
    }

    private void StopScene()
    {
        if (_scene is null)
        {
            return;
        }

        var step = new SceneStep();
        _scene.Stop(step);
        _scene.Emit(step, upstream, detectors.Model);
    }

    /// <summary>Agent:Detection:Publish: every frame, one per SampleSeconds of frame time, or none.</summary>
    private bool PublishesDetections(DateTimeOffset capturedAt)
    {
        switch (options.Detection.Publish)
        {
            case DetectionsPublishing.None:
                return false;
            case DetectionsPublishing.Sampled:
                if (_nextSampleAt is { } next && capturedAt < next)
                {
                    return false;
                }

                _nextSampleAt = capturedAt + TimeSpan.FromSeconds(options.Detection.SampleSeconds);
                return true;
            default:
                return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Scene: mode {Mode}, object events {Events}, detections messages {Publish}")]
    private partial void LogScene(YoloFleet.Inference.Scene.SceneMode mode, bool events, DetectionsPublishing publish);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ended {Objects} object(s) the previous run left open (it stopped without ending them)")]
    private partial void LogRecovered(int objects);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Open objects file: {Error}")]
    private partial void LogOpenObjectsDamaged(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Hard frame {FrameRef} is {Bytes} bytes as JPEG, over the protocol limit; skipped (lower Agent:HardFrames:JpegQuality)")]
    private partial void LogHardFrameTooLarge(string frameRef, int bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source finished: {Frames} frames queued for publishing, {Unreadable} unreadable frames skipped, {Dropped} dropped (newest wins)")]
    private partial void LogFinished(long frames, long unreadable, long dropped);

    [LoggerMessage(Level = LogLevel.Information, Message = "Throughput: {Frames} frames with {Slots} slots at {Fps:F1} frames/s; the inference stage alone {InferenceFps:F1} frames/s (mean {InferenceMs:F1} ms)")]
    private partial void LogThroughput(long frames, int slots, double fps, double inferenceFps, double inferenceMs);

    private readonly record struct CapturedItem(CapturedFrame Frame, double CaptureMs);

    /// <summary>
    /// One frame in flight: its detector buffers and, while in use, the frame and the detector it runs on. The buffers
    /// belong to one detector; after a swap they are made again for the new one when the slot is next used (the old
    /// detector disposes its own when its last frame is done).
    /// </summary>
    private sealed class PipelineSlot(RunningDetector detectors)
    {
        private DetectorSlot? _detector;
        private DetectorGeneration? _boundTo;
        private bool _leased;

        public DetectorSlot Detector => _detector ?? throw new InvalidOperationException("The slot is not in use.");

        /// <summary>The scene's findings for this slot's frame (with a scene).</summary>
        public SceneStep Scene { get; } = new();

        /// <summary>The detector this slot's frame runs on (from <see cref="Begin"/>).</summary>
        public DetectorGeneration? Generation { get; private set; }

        public CapturedFrame? Frame { get; set; }

        public double CaptureMs { get; set; }

        /// <summary>Takes the running detector for this slot's frame, binding the slot's buffers to it if it changed.</summary>
        public DetectorGeneration Begin()
        {
            var generation = detectors.Acquire();
            _leased = true;
            Generation = generation;
            if (!ReferenceEquals(_boundTo, generation))
            {
                _detector = generation.Detector.CreateSlot();
                _boundTo = generation;
            }

            return generation;
        }

        public void Release()
        {
            Frame?.Dispose();
            Frame = null;
            if (_leased)
            {
                _leased = false;
                detectors.Release(Generation!);
            }
        }
    }
}
