using Google.Protobuf;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.HardFrames;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Sources;
using Detection = YoloFleet.Inference.Detection;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using WireDetection = YoloFleet.Contracts.Wire.Detection;

namespace YoloFleet.EdgeAgent.Shadow;

/// <summary>
/// Shadow mode on the device: after the active model ran on a frame, the pipeline hands the frame here, and when a
/// candidate runs in shadow (<see cref="ShadowCandidate"/>) it is run on a sampled share of frames within a CPU budget
/// (<see cref="ShadowOptions"/>). Each window (<see cref="ShadowOptions.WindowSeconds"/>) goes up through the durable
/// outbox as a ShadowReported, and the frames the two models disagree most on go up as hard frames with reason
/// "shadow-disagreement" and both models' boxes, within the hard-frame budget, so the cloud's FP32 verifier can say
/// which was right. A window ends early when either model changes. Called from the publish stage only.
/// </summary>
public sealed partial class ShadowRunner(
    EdgeAgentOptions options,
    ShadowCandidate candidate,
    UpstreamWriter upstream,
    HardFramePolicy hardFrames,
    TimeProvider time,
    ILogger<ShadowRunner> logger,
    Random? random = null)
{
    public const string DisagreementReason = "shadow-disagreement";

    private readonly ShadowWindow _window = new(options.Shadow, random ?? Random.Shared);
    private readonly List<Detection> _candidateResults = new(64);
    private readonly List<Detection> _activeResults = new(64);
    private string _activeSha256 = "";
    private RunningModel? _windowCandidate;
    private long _windows;
    private long _hardFrames;
    private long _hardFramesOverBudget;
    private long _candidateErrors;

    /// <summary>Windows reported since start.</summary>
    public long Windows => Interlocked.Read(ref _windows);

    /// <summary>Shadow-disagreement hard frames sent.</summary>
    public long HardFramesSent => Interlocked.Read(ref _hardFrames);

    /// <summary>Top disagreement frames not sent because the hourly hard-frame budget was spent (or hard frames are off).</summary>
    public long HardFramesOverBudget => Interlocked.Read(ref _hardFramesOverBudget);

    /// <summary>Frames on which the candidate failed to run (logged; the live pipeline goes on).</summary>
    public long CandidateErrors => Interlocked.Read(ref _candidateErrors);

    /// <summary>Called after the active model's message for <paramref name="frame"/> was stored in the outbox.</summary>
    /// <param name="activeMs">The active model's detector time on the frame (preprocess + inference + postprocess).</param>
    public void OnFrame(CapturedFrame frame, IReadOnlyList<Detection> active, DetectionsPublished published, double activeMs)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(active);
        ArgumentNullException.ThrowIfNull(published);
        var generation = candidate.Acquire();
        try
        {
            var now = time.GetUtcNow();
            if (generation is null)
            {
                CloseWindow(now);
                return;
            }

            if (!ReferenceEquals(_windowCandidate, generation.Model) || _activeSha256 != published.ModelSha256)
            {
                // A new candidate or a new active model: what was measured so far belongs to the old pair.
                CloseWindow(now);
                _windowCandidate = generation.Model;
                _activeSha256 = published.ModelSha256;
                _window.Start(now);
            }
            else if (now - _window.StartedAt >= TimeSpan.FromSeconds(options.Shadow.WindowSeconds))
            {
                CloseWindow(now);
                _windowCandidate = generation.Model;
                _activeSha256 = published.ModelSha256;
                _window.Start(now);
            }

            if (_window.Sample(activeMs) == ShadowDecision.Run)
            {
                RunCandidate(generation, frame, active, published, activeMs);
            }
        }
        finally
        {
            if (generation is not null)
            {
                ShadowCandidate.Release(generation);
            }
        }
    }

    /// <summary>
    /// Closes the window under way now and sends it (with its disagreement frames) through the outbox: called when the
    /// pipeline stops (the source ended, or the agent stops), after its last frame and before the outbox drains, so the
    /// last, partial window is not lost. The next frame starts a new window.
    /// </summary>
    public void Flush() => CloseWindow(time.GetUtcNow());

    private void RunCandidate(DetectorGeneration generation, CapturedFrame frame, IReadOnlyList<Detection> active, DetectionsPublished published, double activeMs)
    {
        try
        {
            generation.Detector.Detect(frame.Image, _candidateResults);
        }
#pragma warning disable CA1031 // A candidate that fails on a frame must not stop the live pipeline: counted and logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref _candidateErrors);
            LogCandidateFailed(generation.Model.Version, frame.FrameRef, ex.Message);
            return;
        }

        _activeResults.Clear();
        _activeResults.AddRange(active);
        var candidateMs = generation.Detector.LastTimings.TotalMs;
        var disagreement = _window.Record(_activeResults, _candidateResults, activeMs, candidateMs, published.Throttled);
        if (_window.IsTop(disagreement))
        {
            _window.Keep(new DisagreementFrame(disagreement, frame.Image.Clone(), published, [.. _candidateResults]));
        }
    }

    private void CloseWindow(DateTimeOffset now)
    {
        if (_windowCandidate is null)
        {
            return;
        }

        var candidateModel = _windowCandidate;
        _windowCandidate = null;
        var closed = _window.Close(now);
        try
        {
            if (closed.Report.Frames == 0)
            {
                return;
            }

            var report = closed.Report;
            report.ActiveSha256 = _activeSha256;
            report.CandidateSha256 = candidateModel.Sha256;
            upstream.Append(Topics.ShadowKind, report, envelope => report.Envelope = envelope);
            Interlocked.Increment(ref _windows);
            LogWindow(candidateModel.Version, report.Frames, report.ShadowedFrames, report.SkippedForBudget, report.Matched, report.OnlyActive, report.OnlyCandidate);
            foreach (var top in closed.TopFrames)
            {
                SendHardFrame(top, candidateModel);
            }
        }
        finally
        {
            foreach (var top in closed.TopFrames)
            {
                top.Dispose();
            }
        }
    }

    private void SendHardFrame(DisagreementFrame top, RunningModel candidateModel)
    {
        if (!hardFrames.TryTakeBudget())
        {
            Interlocked.Increment(ref _hardFramesOverBudget);
            return;
        }

        Cv2.ImEncode(".jpg", top.Image, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, options.HardFrames.JpegQuality));
        var upload = new HardFrameUploaded
        {
            DetectionsSequence = top.Active.Envelope.Sequence,
            CapturedAtUnixMs = top.Active.CapturedAtUnixMs,
            ModelVersion = top.Active.ModelVersion,
            ModelSha256 = top.Active.ModelSha256,
            Jpeg = ByteString.CopyFrom(jpeg),
            Reason = DisagreementReason,
            ShadowModelSha256 = candidateModel.Sha256,
            ShadowModelVersion = Truncate(candidateModel.Version, ProtocolLimits.MaxModelVersionLength),
        };
        upload.Detections.AddRange(top.Active.Detections);
        foreach (var d in top.Candidate)
        {
            upload.ShadowDetections.Add(new WireDetection { ClassId = (uint)d.ClassId, Score = d.Score, X1 = d.X1, Y1 = d.Y1, X2 = d.X2, Y2 = d.Y2 });
        }

        if (upload.CalculateSize() > ProtocolLimits.MaxHardFramePayloadBytes)
        {
            Interlocked.Increment(ref _hardFramesOverBudget);
            return;
        }

        upstream.Append(Topics.HardFramesKind, upload, envelope => upload.Envelope = envelope);
        Interlocked.Increment(ref _hardFrames);
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];

    [LoggerMessage(Level = LogLevel.Warning, Message = "The shadow candidate {Version} failed on frame {FrameRef}: {Error}; the active model goes on")]
    private partial void LogCandidateFailed(string version, string frameRef, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shadow window for {Version}: {Frames} frames, {Shadowed} shadowed, {Skipped} skipped for the CPU budget; {Matched} boxes matched, {OnlyActive} only active, {OnlyCandidate} only candidate")]
    private partial void LogWindow(string version, uint frames, uint shadowed, uint skipped, uint matched, uint onlyActive, uint onlyCandidate);
}
