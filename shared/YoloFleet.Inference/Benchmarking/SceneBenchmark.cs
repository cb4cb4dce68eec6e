using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenCvSharp;
using YoloFleet.Inference.Evaluation;
using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>What `yolofleet scene-bench` runs.</summary>
/// <param name="VideoPath">A static-camera video (default Debian's opencv-doc vtest.avi).</param>
/// <param name="NoiseSigma">Sensor-like noise added to the static stretch: Gaussian, grey levels per channel and pixel.</param>
/// <param name="Threads">ONNX Runtime intra-op threads; 1 keeps the detector on the calling thread.</param>
/// <param name="TilingImages">Labelled images for the tiling figures (YOLO labels beside them); null skips tiling.</param>
public sealed record SceneBenchmarkSettings(
    string ModelPath, string VideoPath, float NoiseSigma, int Threads, string? TilingImages, int? MaxFrames, SceneOptions Scene)
{
    public const string DefaultVideo = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
}

/// <summary>One way of running the detector over a sequence.</summary>
/// <param name="DetectorCpuPerVideoSecond">Detector CPU-seconds (all threads of this process, during detector calls) per second of video.</param>
/// <param name="SceneCpuSeconds">CPU of the scene's own work (motion gate, planning, tracking, zones, events); 0 for whole frames.</param>
/// <param name="PlanCpuSeconds">The part of <paramref name="SceneCpuSeconds"/> in <see cref="SceneAnalyzer.Plan"/>: the motion gate and region planning.</param>
/// <param name="SceneBytesPerFrame">Managed bytes the scene's own calls allocated per frame (the detector's not included).</param>
/// <param name="FramesPerSecond">Frames processed per wall-clock second (decoding and the synthetic noise not included).</param>
public sealed record SceneRunFigures(
    string Name,
    int Frames,
    double VideoSeconds,
    long DetectorInvocations,
    double DetectorCpuSeconds,
    double DetectorCpuPerVideoSecond,
    double SceneCpuSeconds,
    double PlanCpuSeconds,
    double SceneBytesPerFrame,
    double WallSeconds,
    double FramesPerSecond);

/// <summary>How the motion-gated scene's per-frame output compares with the whole-frame detector's boxes.</summary>
/// <param name="Recall">The share of the whole-frame boxes that the scene's output has too (same class, IoU at least 0.5), frame by frame.</param>
/// <param name="OnlyScene">Scene boxes matching no whole-frame box (found in a region at more detail, or carried by a track).</param>
public sealed record SceneComparison(
    int ReferenceBoxes, int Matched, double Recall, int SceneBoxes, int OnlyScene, int OnlySceneDetected, int OnlySceneCarried,
    double StaticRecall, double VideoRecall);

/// <summary>What the scene planned, frame by frame.</summary>
public sealed record ScenePlanCounts(int Skipped, int RegionFrames, int WholeFrames, int KeepAlives, double RegionsPerRegionFrame, int Tracks, int ObjectEvents);

/// <summary>The two ways over one sequence, and whether the target holds.</summary>
/// <param name="CpuRatio">The scene's detector CPU over the whole-frame detector's: the target's measure.</param>
/// <param name="TotalCpuRatio">The scene's detector and scene CPU together over the whole-frame detector's.</param>
/// <param name="TargetMet">
/// For the sequence with the static stretch (the target's): at most a third of the whole-frame detector's CPU, with
/// recall of at least 0.95. Null for the video alone, which shows the gain during motion without a target.
/// </param>
public sealed record SceneSequenceResult(
    string Sequence, SceneRunFigures WholeFrame, SceneRunFigures Scene, SceneComparison Comparison, ScenePlanCounts Plans, double CpuRatio,
    double TotalCpuRatio, bool? TargetMet);

/// <summary>COCO mAP by size with and without tiling, and what tiling costs.</summary>
public sealed record TilingFigures(
    string Images, int ImageCount, double WholeMap, double WholeMapSmall, double WholeMapMedium, double WholeMapLarge, long WholeInvocations,
    double WholeCpuSeconds, double TiledMap, double TiledMapSmall, double TiledMapMedium, double TiledMapLarge, long TiledInvocations,
    double TiledCpuSeconds, double CostMultiple, int SmallObjects);

public sealed record SceneBenchmarkResult(
    string Model, string Video, int Width, int Height, double FramesPerVideoSecond, int VideoFrames, int Threads, float NoiseSigma,
    SceneSequenceResult WithStaticStretch, SceneSequenceResult VideoAlone, TilingFigures? Tiling);

/// <summary>
/// The scene bench: a static-camera video preceded by a static stretch as long as itself (its first frame again and
/// again with fresh sensor-like noise), run (a) with the detector on every whole frame and (b) through the motion gate,
/// regions and tracker; then the video alone through (b). CPU time is the main figure (the machine may be shared);
/// (b)'s per-frame output is compared box by box with (a)'s. Then, optionally, COCO mAP by size with and without tiling.
/// </summary>
public static class SceneBenchmark
{
    public static SceneBenchmarkResult Run(SceneBenchmarkSettings settings, Action<string> progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        if (!File.Exists(settings.VideoPath))
        {
            throw new FileNotFoundException(
                $"Video not found: '{settings.VideoPath}'. Install Debian's opencv-doc package (deploy/install-deps.sh does) or pass --video.", settings.VideoPath);
        }

        var (width, height, fps, frameCount) = Probe(settings.VideoPath, settings.MaxFrames);
        progress($"scene-bench: {settings.VideoPath}: {width}x{height}, {frameCount} frames at {fps:F1} frames/s");

        // The same thresholds the agent serves with for (a); for (b) the detector also reports the low-score band that
        // the tracker's second association uses.
        using var wholeDetector = Detector.Open(settings.ModelPath, new DetectorOptions { IntraOpThreads = settings.Threads, LogLevel = OnnxRuntimeLogLevel.Error });
        using var sceneDetector = Detector.Open(settings.ModelPath, new DetectorOptions
        {
            IntraOpThreads = settings.Threads,
            LogLevel = OnnxRuntimeLogLevel.Error,
            ConfidenceThreshold = settings.Scene.Tracker.LowScore,
        });

        var sequence = new FrameSequence(settings.VideoPath, frameCount, frameCount, settings.NoiseSigma);
        progress($"scene-bench: (a) the detector on every whole frame, {sequence.Length} frames");
        var (wholeFigures, reference) = RunWholeFrames(wholeDetector, sequence, fps, cancellationToken);

        progress("scene-bench: (b) motion gate, regions and tracking, static stretch then video");
        var withStatic = RunScene(sceneDetector, wholeDetector.Model, sequence, fps, settings.Scene, reference, staticFrames: frameCount, cancellationToken);
        var staticResult = Summarise("static stretch + video", wholeFigures, withStatic, hasTarget: true);

        progress("scene-bench: (b) the video alone");
        var videoOnly = new FrameSequence(settings.VideoPath, 0, frameCount, settings.NoiseSigma);
        var videoReference = reference.GetRange(frameCount, frameCount);
        var alone = RunScene(sceneDetector, wholeDetector.Model, videoOnly, fps, settings.Scene, videoReference, staticFrames: 0, cancellationToken);
        // (a) on a frame does not depend on the frames before it: its video part is the video alone.
        var wholeVideoOnly = wholeFigures.From(frameCount);
        var aloneResult = Summarise("video alone", wholeVideoOnly, alone, hasTarget: false);

        TilingFigures? tiling = null;
        if (settings.TilingImages is { } images)
        {
            progress($"scene-bench: tiling on {images}");
            tiling = MeasureTiling(settings, images, progress, cancellationToken);
        }

        return new SceneBenchmarkResult(
            wholeDetector.Model.Version, settings.VideoPath, width, height, fps, frameCount, settings.Threads, settings.NoiseSigma, staticResult, aloneResult, tiling);
    }

    private static (int Width, int Height, double Fps, int Frames) Probe(string path, int? maxFrames)
    {
        using var capture = new VideoCapture(path);
        if (!capture.IsOpened())
        {
            throw new InvalidDataException($"OpenCV cannot open the video '{path}'.");
        }

        var fps = capture.Fps is > 0 and < 1000 ? capture.Fps : 10;
        // Count by reading: a container's frame count can be an estimate.
        var frames = 0;
        using var frame = new Mat();
        while ((maxFrames is not { } most || frames < most) && capture.Read(frame) && !frame.Empty())
        {
            frames++;
        }

        if (frames == 0)
        {
            throw new InvalidDataException($"'{path}' has no frames OpenCV can decode.");
        }

        return (capture.FrameWidth, capture.FrameHeight, fps, frames);
    }

    private static (WholeFrameRun Figures, List<Detection[]> Boxes) RunWholeFrames(Detector detector, FrameSequence sequence, double fps, CancellationToken cancellationToken)
    {
        var boxes = new List<Detection[]>(sequence.Length);
        var results = new List<Detection>();
        var cpuPerFrame = new List<double>(sequence.Length);
        var wallPerFrame = new List<double>(sequence.Length);
        foreach (var frame in sequence.Frames())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var cpu = Environment.CpuUsage.TotalTime;
            var started = Stopwatch.GetTimestamp();
            detector.Detect(frame, results);
            wallPerFrame.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
            cpuPerFrame.Add((Environment.CpuUsage.TotalTime - cpu).TotalSeconds);
            boxes.Add([.. results]);
        }

        return (new WholeFrameRun(cpuPerFrame, wallPerFrame, fps), boxes);
    }

    private static SceneRun RunScene(
        Detector detector, ModelInfo model, FrameSequence sequence, double fps, SceneOptions options, List<Detection[]> reference, int staticFrames,
        CancellationToken cancellationToken)
    {
        var scene = new SceneAnalyzer(options, model.InputWidth, model.InputHeight);
        var regions = new RegionDetector(detector);
        var detections = new List<Detection>();
        var start = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        double detectorCpu = 0, sceneCpu = 0, planCpu = 0, wall = 0;
        long sceneBytes = 0;
        var comparison = new BoxComparison();
        var (skipped, regionFrames, wholeFrames, keepAlives, regionCount, events) = (0, 0, 0, 0, 0, 0);
        var tracks = new HashSet<long>();
        var index = 0;
        foreach (var frame in sequence.Frames())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var timestamp = start + TimeSpan.FromSeconds(index / fps);
            var started = Stopwatch.GetTimestamp();
            var cpu0 = Environment.CpuUsage.TotalTime;
            var bytes0 = GC.GetAllocatedBytesForCurrentThread();
            var plan = scene.Plan(RegionDetector.ViewOf(frame), timestamp);
            sceneBytes += GC.GetAllocatedBytesForCurrentThread() - bytes0;
            var cpu1 = Environment.CpuUsage.TotalTime;
            detections.Clear();
            if (plan.RunsDetector)
            {
                regions.Detect(frame, plan.Regions, detections);
            }

            var cpu2 = Environment.CpuUsage.TotalTime;
            var bytes2 = GC.GetAllocatedBytesForCurrentThread();
            var result = scene.Complete(CollectionsMarshal.AsSpan(detections));
            sceneBytes += GC.GetAllocatedBytesForCurrentThread() - bytes2;
            var cpu3 = Environment.CpuUsage.TotalTime;
            wall += Stopwatch.GetElapsedTime(started).TotalSeconds;
            detectorCpu += (cpu2 - cpu1).TotalSeconds;
            sceneCpu += (cpu1 - cpu0 + (cpu3 - cpu2)).TotalSeconds;
            planCpu += (cpu1 - cpu0).TotalSeconds;

            switch (plan.Kind)
            {
                case DetectionPlanKind.Skip:
                    skipped++;
                    break;
                case DetectionPlanKind.Regions:
                    regionFrames++;
                    regionCount += plan.Regions.Count;
                    break;
                default:
                    wholeFrames++;
                    keepAlives += plan.Reason == DetectionReason.KeepAlive ? 1 : 0;
                    break;
            }

            events += result.Events.Count;
            foreach (var item in result.Objects)
            {
                if (item.IsConfirmed)
                {
                    tracks.Add(item.TrackId);
                }
            }

            comparison.Add(reference[index], result.Objects, isStatic: index < staticFrames);
            index++;
        }

        var stop = scene.Stop();
        events += stop.Events.Count;
        var videoSeconds = index / fps;
        var figures = new SceneRunFigures(
            "motion gate + regions + tracking", index, videoSeconds, regions.Invocations, detectorCpu, detectorCpu / videoSeconds, sceneCpu, planCpu, (double)sceneBytes / index, wall, index / wall);
        var plans = new ScenePlanCounts(skipped, regionFrames, wholeFrames, keepAlives, regionFrames == 0 ? 0 : (double)regionCount / regionFrames, tracks.Count, events);
        return new SceneRun(figures, comparison.Result(), plans);
    }

    private static SceneSequenceResult Summarise(string name, WholeFrameRun whole, SceneRun scene, bool hasTarget)
    {
        var wholeFigures = whole.Figures(name);
        var ratio = scene.Figures.DetectorCpuSeconds / wholeFigures.DetectorCpuSeconds;
        var total = (scene.Figures.DetectorCpuSeconds + scene.Figures.SceneCpuSeconds) / wholeFigures.DetectorCpuSeconds;
        return new SceneSequenceResult(
            name, wholeFigures, scene.Figures, scene.Comparison, scene.Plans, ratio, total, hasTarget ? ratio <= 1.0 / 3 && scene.Comparison.Recall >= 0.95 : null);
    }

    private static TilingFigures MeasureTiling(SceneBenchmarkSettings settings, string imageFolder, Action<string> progress, CancellationToken cancellationToken)
    {
        // The evaluation protocol of `yolofleet eval`: confidence 0.001, NMS IoU 0.65, 100 detections per image.
        using var detector = Detector.Open(settings.ModelPath, new DetectorOptions
        {
            IntraOpThreads = settings.Threads,
            LogLevel = OnnxRuntimeLogLevel.Error,
            ConfidenceThreshold = 0.001f,
            NmsIouThreshold = 0.65f,
            MaxDetections = CocoDetectionEvaluator.DefaultMaxDetectionsPerImage,
        });
        var groundTruth = YoloLabelGroundTruth.Open(imageFolder);
        var whole = new CocoDetectionEvaluator();
        var tiled = new CocoDetectionEvaluator();
        var regions = new RegionDetector(detector);
        var plan = new List<PixelRect>();
        var results = new List<Detection>();
        double wholeCpu = 0, tiledCpu = 0;
        long wholeRuns = 0;
        var model = detector.Model;
        foreach (var image in groundTruth.Images)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var frame = ImageFile.Read(image.Path);
            var truth = groundTruth.Read(image, frame.Width, frame.Height);
            var truthSpan = truth is List<GroundTruthBox> list ? CollectionsMarshal.AsSpan(list) : [.. truth];

            var cpu = Environment.CpuUsage.TotalTime;
            detector.Detect(frame, results);
            wholeCpu += (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;
            wholeRuns++;
            whole.AddImage(truthSpan, CollectionsMarshal.AsSpan(results));

            TilePlanner.Plan(frame.Width, frame.Height, model.InputWidth, model.InputHeight, settings.Scene.Tiling.Overlap, plan);
            plan.Add(new PixelRect(0, 0, frame.Width, frame.Height));
            cpu = Environment.CpuUsage.TotalTime;
            regions.Detect(frame, plan, results);
            tiledCpu += (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;
            tiled.AddImage(truthSpan, CollectionsMarshal.AsSpan(results));
        }

        var a = whole.Evaluate();
        var b = tiled.Evaluate();
        progress($"scene-bench: tiling: mAP small {a.MeanApSmall:F3} -> {b.MeanApSmall:F3} at {tiledCpu / wholeCpu:F2}x the detector CPU");
        return new TilingFigures(
            imageFolder, a.Images, a.MeanAp, a.MeanApSmall, a.MeanApMedium, a.MeanApLarge, wholeRuns, wholeCpu,
            b.MeanAp, b.MeanApSmall, b.MeanApMedium, b.MeanApLarge, regions.Invocations, tiledCpu, tiledCpu / wholeCpu, a.SmallObjects);
    }

    private sealed record SceneRun(SceneRunFigures Figures, SceneComparison Comparison, ScenePlanCounts Plans);

    /// <summary>The whole-frame run's per-frame costs, so that the video part can be summed on its own.</summary>
    private sealed class WholeFrameRun(List<double> cpu, List<double> wall, double fps)
    {
        public SceneRunFigures Figures(string name) => Sum(name, 0, cpu.Count);

        public WholeFrameRun From(int first) => new(cpu.GetRange(first, cpu.Count - first), wall.GetRange(first, wall.Count - first), fps);

        private SceneRunFigures Sum(string name, int from, int count)
        {
            double cpuSeconds = 0, wallSeconds = 0;
            for (var i = from; i < from + count; i++)
            {
                cpuSeconds += cpu[i];
                wallSeconds += wall[i];
            }

            var videoSeconds = count / fps;
            return new SceneRunFigures("detector on every whole frame", count, videoSeconds, count, cpuSeconds, cpuSeconds / videoSeconds, 0, 0, 0, wallSeconds, count / wallSeconds);
        }
    }

    /// <summary>Frame by frame: greedy one-to-one pairs of same-class boxes at IoU 0.5 or more, best IoU first.</summary>
    private sealed class BoxComparison
    {
        private readonly List<(float Iou, int Reference, int Scene)> _pairs = [];
        private readonly HashSet<int> _usedReference = [];
        private readonly HashSet<int> _usedScene = [];
        private int _reference;
        private int _matched;
        private int _scene;
        private int _onlyDetected;
        private int _onlyCarried;
        private int _staticReference;
        private int _staticMatched;

        public void Add(Detection[] reference, IReadOnlyList<TrackedObject> scene, bool isStatic)
        {
            _pairs.Clear();
            _usedReference.Clear();
            _usedScene.Clear();
            for (var r = 0; r < reference.Length; r++)
            {
                for (var s = 0; s < scene.Count; s++)
                {
                    var box = scene[s].ToDetection();
                    if (box.ClassId == reference[r].ClassId && NonMaxSuppression.IntersectionOverUnion(reference[r], box) is var iou && iou >= 0.5f)
                    {
                        _pairs.Add((iou, r, s));
                    }
                }
            }

            _pairs.Sort(static (a, b) => b.Iou.CompareTo(a.Iou));
            var matched = 0;
            foreach (var (_, r, s) in _pairs)
            {
                if (!_usedReference.Contains(r) && !_usedScene.Contains(s))
                {
                    _usedReference.Add(r);
                    _usedScene.Add(s);
                    matched++;
                }
            }

            _reference += reference.Length;
            _matched += matched;
            _scene += scene.Count;
            for (var s = 0; s < scene.Count; s++)
            {
                if (!_usedScene.Contains(s))
                {
                    if (scene[s].IsDetected)
                    {
                        _onlyDetected++;
                    }
                    else
                    {
                        _onlyCarried++;
                    }
                }
            }

            if (isStatic)
            {
                _staticReference += reference.Length;
                _staticMatched += matched;
            }
        }

        public SceneComparison Result()
        {
            static double Ratio(int part, int whole) => whole == 0 ? 1 : (double)part / whole;
            return new SceneComparison(
                _reference, _matched, Ratio(_matched, _reference), _scene, _onlyDetected + _onlyCarried, _onlyDetected, _onlyCarried,
                Ratio(_staticMatched, _staticReference), Ratio(_matched - _staticMatched, _reference - _staticReference));
        }
    }

    /// <summary>
    /// The frames of a run, decoded one at a time: <c>staticFrames</c> copies of the video's first frame, each with fresh
    /// sensor-like noise (Gaussian per pixel and channel, plus a global brightness flicker of up to one grey level),
    /// then the video's frames. The noise is seeded, so every run sees the same frames.
    /// </summary>
    private sealed class FrameSequence(string path, int staticFrames, int videoFrames, float noiseSigma)
    {
        private const int NoiseTableLength = 1 << 22;

        public int Length => staticFrames + videoFrames;

        public IEnumerable<Mat> Frames()
        {
            using var capture = new VideoCapture(path);
            using var frame = new Mat();
            if (staticFrames > 0)
            {
                if (!capture.Read(frame) || frame.Empty())
                {
                    throw new InvalidDataException($"'{path}' has no first frame.");
                }

                using var first = frame.Clone();
                using var noisy = first.Clone();
                var random = new Random(20261201);
                var noise = new sbyte[NoiseTableLength];
                for (var i = 0; i < noise.Length; i++)
                {
                    noise[i] = (sbyte)Math.Clamp(Math.Round(Gaussian(random) * noiseSigma), -127, 127);
                }

                for (var i = 0; i < staticFrames; i++)
                {
                    AddNoise(first, noisy, noise, random);
                    yield return noisy;
                }

                // Back to the start for the video itself (reopening is exact where seeking a compressed stream may not be).
                capture.Release();
                capture.Open(path);
            }

            for (var i = 0; i < videoFrames && capture.Read(frame) && !frame.Empty(); i++)
            {
                yield return frame;
            }
        }

        private static unsafe void AddNoise(Mat source, Mat target, sbyte[] noise, Random random)
        {
            var length = checked((int)(source.Total() * source.ElemSize()));
            var from = new ReadOnlySpan<byte>(source.DataPointer, length);
            var to = new Span<byte>(target.DataPointer, length);
            var flicker = random.Next(-1, 2);
            var offset = random.Next(NoiseTableLength);
            for (var i = 0; i < length; i++)
            {
                to[i] = (byte)Math.Clamp(from[i] + flicker + noise[(offset + i) & (NoiseTableLength - 1)], 0, 255);
            }
        }

        private static double Gaussian(Random random)
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
    }
}
