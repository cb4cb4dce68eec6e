using System.Diagnostics;
using OpenCvSharp;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>
/// Measures detectors on a fixed set of frames. After a warm-up, it runs in rounds; each round measures a short block
/// of whole frames (Detect) and a block of bare model runs (runOnly: the same session and input buffer, already filled
/// by the last frame) for each model, starting each round at a different one. Interleaving short blocks means a burst
/// of load from elsewhere on the machine hits every measurement alike, so the ratios between them hold even when the
/// absolute times do not. Managed allocation is counted per block with GC.GetAllocatedBytesForCurrentThread.
/// </summary>
public static class DetectorBenchmark
{
    /// <summary>Benchmarks <paramref name="primary"/>, and <paramref name="compare"/> alternately with it when given.</summary>
    /// <param name="progress">Called with a short status line now and then (never inside a measured block).</param>
    public static BenchmarkReport Run(
        Detector primary, Detector? compare, BenchmarkImages images, BenchmarkSettings settings, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(primary);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (settings.IncludeDecode != images.Encoded)
        {
            throw new ArgumentException(
                settings.IncludeDecode
                    ? "IncludeDecode needs encoded images (BenchmarkImages.FromFolder(..., keepEncoded: true))."
                    : "The images are kept encoded; set IncludeDecode, or load them with keepEncoded: false.",
                nameof(images));
        }

        var loadBefore = ProcessMemory.LoadAverage();
        var first = new Subject(primary, settings, images);
        var second = compare is null ? null : new Subject(compare, settings, images);
        Subject[] subjects = second is null ? [first] : [first, second];

        foreach (var subject in subjects)
        {
            progress?.Invoke($"warm-up: {settings.Warmup} frames of {subject.Detector.Model.Version}");
            subject.Warmup(settings.Warmup);
        }

        // Start the measurement with a clean heap so that a collection owed to loading does not land in it.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        var phases = subjects.SelectMany(subject => subject.Phases()).ToArray();
        var rounds = (settings.Frames + settings.BlockSize - 1) / settings.BlockSize;
        var reportEvery = Math.Max(1, rounds / 10);
        for (var round = 0; round < rounds; round++)
        {
            var count = Math.Min(settings.BlockSize, settings.Frames - round * settings.BlockSize);
            for (var i = 0; i < phases.Length; i++)
            {
                var (subject, phase) = phases[(round + i) % phases.Length];
                subject.Measure(phase, count);
            }

            if (progress is not null && ((round + 1) % reportEvery == 0 || round + 1 == rounds))
            {
                progress($"measured {Math.Min(settings.Frames, (round + 1) * settings.BlockSize)}/{settings.Frames} frames per model" +
                    $" (pipeline {first.CurrentMeanMs():F1} ms, runOnly {first.CurrentRunOnlyMeanMs():F1} ms)");
            }
        }

        var primaryResult = first.Result();
        var compareResult = second?.Result();
        return new BenchmarkReport(
            primaryResult,
            compareResult,
            settings.Frames,
            settings.Warmup,
            settings.BlockSize,
            settings.Threads,
            images.Count,
            settings.IncludeDecode,
            ProcessMemory.PeakResidentMegabytes(),
            images.DecodedBytes,
            loadBefore,
            ProcessMemory.LoadAverage());
    }

    private enum Phase
    {
        Pipeline,
        RunOnly,
        PlainRun,
    }

    /// <summary>One detector's state and samples. Every buffer is allocated up front so the measured loops allocate nothing of their own.</summary>
    private sealed class Subject
    {
        private readonly BenchmarkImages _images;
        private readonly List<Detection> _results = new(capacity: 1024);
        private readonly double[] _total;
        private readonly double[] _decode;
        private readonly double[] _preprocess;
        private readonly double[] _inference;
        private readonly double[] _postprocess;
        private readonly double[] _runOnly;
        private readonly bool _plainRun;
        private readonly double[] _plain;
        private int _frame;
        private int _pipelineDone;
        private int _runOnlyDone;
        private int _plainDone;
        private long _pipelineAllocated;
        private long _runOnlyAllocated;
        private long _plainAllocated;
        private long _detections;

        public Subject(Detector detector, BenchmarkSettings settings, BenchmarkImages images)
        {
            Detector = detector;
            _images = images;
            _total = new double[settings.Frames];
            _decode = new double[settings.Frames];
            _preprocess = new double[settings.Frames];
            _inference = new double[settings.Frames];
            _postprocess = new double[settings.Frames];
            _runOnly = new double[settings.Frames];
            _plainRun = settings.ComparePlainRun;
            _plain = settings.ComparePlainRun ? new double[settings.Frames] : [];
        }

        public Detector Detector { get; }

        public IEnumerable<(Subject, Phase)> Phases()
        {
            yield return (this, Phase.Pipeline);
            yield return (this, Phase.RunOnly);
            if (_plainRun)
            {
                yield return (this, Phase.PlainRun);
            }
        }

        public void Warmup(int frames)
        {
            for (var i = 0; i < frames; i++)
            {
                PipelineFrame(record: false);
                Detector.RunModelOnly();
                if (_plainRun)
                {
                    Detector.RunModelUnbound();
                }
            }
        }

        public void Measure(Phase phase, int count)
        {
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            switch (phase)
            {
                case Phase.Pipeline:
                    for (var i = 0; i < count; i++)
                    {
                        PipelineFrame(record: true);
                    }

                    _pipelineAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    break;
                case Phase.RunOnly:
                    for (var i = 0; i < count; i++)
                    {
                        var started = Stopwatch.GetTimestamp();
                        Detector.RunModelOnly();
                        _runOnly[_runOnlyDone++] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }

                    _runOnlyAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    break;
                case Phase.PlainRun:
                    for (var i = 0; i < count; i++)
                    {
                        var started = Stopwatch.GetTimestamp();
                        Detector.RunModelUnbound();
                        _plain[_plainDone++] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }

                    _plainAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    break;
            }
        }

        public double CurrentMeanMs() => _pipelineDone == 0 ? 0 : _total.AsSpan(0, _pipelineDone).ToArray().Average();

        public double CurrentRunOnlyMeanMs() => _runOnlyDone == 0 ? 0 : _runOnly.AsSpan(0, _runOnlyDone).ToArray().Average();

        public ModelBenchmark Result()
        {
            var frames = _pipelineDone;
            var split = new StageTimings(
                Mean(_decode, frames), Mean(_preprocess, frames), Mean(_inference, frames), Mean(_postprocess, frames));
            return new ModelBenchmark(
                Detector.Model,
                new FileInfo(Detector.Model.Path).Length,
                frames,
                LatencySummary.Of(_total.AsSpan(0, frames)),
                LatencySummary.Of(_runOnly.AsSpan(0, _runOnlyDone)),
                split,
                _pipelineAllocated,
                _runOnlyAllocated,
                _detections,
                _plainRun ? LatencySummary.Of(_plain.AsSpan(0, _plainDone)) : null,
                _plainAllocated);
        }

        private void PipelineFrame(bool record)
        {
            var index = _frame++;
            double decodeMs = 0;
            Mat image;
            if (_images.Encoded)
            {
                var decodeStarted = Stopwatch.GetTimestamp();
                image = Cv2.ImDecode(_images.EncodedBytes(index), ImreadModes.Color);
                decodeMs = Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds;
            }
            else
            {
                image = _images.Decoded(index);
            }

            try
            {
                var started = Stopwatch.GetTimestamp();
                Detector.Detect(image, _results);
                var detectMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (!record)
                {
                    return;
                }

                var timings = Detector.LastTimings;
                var at = _pipelineDone++;
                _total[at] = decodeMs + detectMs;
                _decode[at] = decodeMs;
                _preprocess[at] = timings.PreprocessMs;
                _inference[at] = timings.InferenceMs;
                _postprocess[at] = timings.PostprocessMs;
                _detections += _results.Count;
            }
            finally
            {
                if (_images.Encoded)
                {
                    image.Dispose();
                }
            }
        }

        private static double Mean(double[] values, int count)
        {
            var sum = 0.0;
            for (var i = 0; i < count; i++)
            {
                sum += values[i];
            }

            return count > 0 ? sum / count : 0;
        }
    }
}
