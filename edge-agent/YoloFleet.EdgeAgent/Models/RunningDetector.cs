using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>Where the running model came from.</summary>
public enum ModelOrigin
{
    /// <summary>The configured model (<c>Agent:ModelPath</c>), which needs no signature: it came with the device.</summary>
    Factory,

    /// <summary>A verified slot.</summary>
    Slot,
}

/// <summary>Which model a detector runs: what telemetry, detections and acknowledgements report.</summary>
public sealed record RunningModel(string Sha256, string Version, ModelOrigin Origin, string Path);

/// <summary>
/// One detector the pipeline may run, counted while frames use it: each frame takes it at preprocess and gives it back
/// once published, so a detector replaced by a newer one is disposed only when its last frame is done.
/// </summary>
public sealed class DetectorGeneration
{
    private readonly Lock _gate = new();
    private readonly List<double> _frameMs = [];
    private int _users;
    private bool _retired;
    private bool _disposed;

    public DetectorGeneration(Detector detector, RunningModel model)
    {
        Detector = detector;
        Model = model;
    }

    public Detector Detector { get; }

    public RunningModel Model { get; }

    /// <summary>Frames published with this detector.</summary>
    public long Frames { get; private set; }

    public bool IsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>The pipeline's per-frame detector time (preprocess + inference + postprocess) of the first frames, in ms.</summary>
    public IReadOnlyList<double> FrameMilliseconds()
    {
        lock (_gate)
        {
            return [.. _frameMs];
        }
    }

    /// <summary>Called by the pipeline for each frame published with this detector; the first 1000 are kept.</summary>
    public void RecordFrame(double totalMs)
    {
        lock (_gate)
        {
            Frames++;
            if (_frameMs.Count < 1000)
            {
                _frameMs.Add(totalMs);
            }
        }
    }

    internal void AddUser()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _users++;
        }
    }

    internal void RemoveUser()
    {
        bool dispose;
        lock (_gate)
        {
            _users--;
            dispose = _retired && _users == 0 && !_disposed;
            _disposed |= dispose;
        }

        if (dispose)
        {
            Detector.Dispose();
        }
    }

    internal void Retire()
    {
        bool dispose;
        lock (_gate)
        {
            _retired = true;
            dispose = _users == 0 && !_disposed;
            _disposed |= dispose;
        }

        if (dispose)
        {
            Detector.Dispose();
        }
    }
}

/// <summary>
/// The detector the pipeline runs now. A swap builds the new detector (its ONNX Runtime session) beside the old one
/// and switches between frames: frames already in flight finish on the detector they started with, new frames take
/// the new one, and the old one is disposed once it is retired and its last frame is done. Nothing waits and no frame
/// is lost. Thread-safe.
/// </summary>
public sealed class RunningDetector : IDisposable
{
    private readonly Lock _gate = new();
    private DetectorGeneration _current;
    private long _switches;

    public RunningDetector(DetectorGeneration initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        _current = initial;
    }

    public RunningDetector(Detector detector, RunningModel model)
        : this(new DetectorGeneration(detector, model))
    {
    }

    /// <summary>The generation new frames take.</summary>
    public DetectorGeneration Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>The model new frames run.</summary>
    public RunningModel Model => Current.Model;

    /// <summary>Switches since start.</summary>
    public long Switches => Interlocked.Read(ref _switches);

    /// <summary>Takes the current detector for one frame; give it back with <see cref="Release"/> when the frame is done.</summary>
    public DetectorGeneration Acquire()
    {
        lock (_gate)
        {
            _current.AddUser();
            return _current;
        }
    }

    public void Release(DetectorGeneration generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        generation.RemoveUser();
    }

    /// <summary>
    /// Makes <paramref name="next"/> the detector of every frame from now on and returns the one it replaces, which
    /// stays usable (a rollback may switch back to it) until <see cref="Retire"/>.
    /// </summary>
    public DetectorGeneration SwitchTo(DetectorGeneration next)
    {
        ArgumentNullException.ThrowIfNull(next);
        ObjectDisposedException.ThrowIf(next.IsDisposed, next);
        lock (_gate)
        {
            var previous = _current;
            _current = next;
            Interlocked.Increment(ref _switches);
            return previous;
        }
    }

    /// <summary>Disposes <paramref name="generation"/> once no frame uses it; it must no longer be current.</summary>
    public void Retire(DetectorGeneration generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        lock (_gate)
        {
            if (ReferenceEquals(generation, _current))
            {
                throw new InvalidOperationException("The running detector cannot be retired; switch to another first.");
            }
        }

        generation.Retire();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _current.Retire();
        }
    }
}
