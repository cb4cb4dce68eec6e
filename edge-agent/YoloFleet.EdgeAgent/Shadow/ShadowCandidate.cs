using YoloFleet.EdgeAgent.Models;

namespace YoloFleet.EdgeAgent.Shadow;

/// <summary>
/// The candidate model running in shadow (slot B, assigned with slot "shadow"), or none. The assignment service sets it
/// once the candidate passed its health check and clears it when slot B is taken for anything else; the pipeline takes
/// it frame by frame. A replaced candidate is disposed once the frame using it is done (the same counting as
/// <see cref="RunningDetector"/>). Thread-safe.
/// </summary>
public sealed class ShadowCandidate : IDisposable
{
    private readonly Lock _gate = new();
    private DetectorGeneration? _current;

    /// <summary>The candidate's model, or null when none runs in shadow.</summary>
    public RunningModel? Model
    {
        get
        {
            lock (_gate)
            {
                return _current?.Model;
            }
        }
    }

    /// <summary>Makes <paramref name="next"/> the shadow candidate (null: none); the one it replaces is retired.</summary>
    public void Set(DetectorGeneration? next)
    {
        DetectorGeneration? previous;
        lock (_gate)
        {
            previous = _current;
            _current = next;
        }

        previous?.Retire();
    }

    /// <summary>Takes the candidate for one frame (null: none); give it back with <see cref="Release"/>.</summary>
    public DetectorGeneration? Acquire()
    {
        lock (_gate)
        {
            _current?.AddUser();
            return _current;
        }
    }

    public static void Release(DetectorGeneration generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        generation.RemoveUser();
    }

    public void Dispose() => Set(null);
}
