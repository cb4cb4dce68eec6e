using System.Collections.Concurrent;
using OpenCvSharp;
using YoloFleet.Cloud.Verification;
using YoloFleet.Inference;

namespace YoloFleet.Cloud.Dashboard;

/// <summary>
/// The FP32 model's boxes on a stored hard frame, for the gallery. The verifier stores its verdict (counts, precision,
/// recall), not the reference boxes, so they are recomputed here on request with the verifier's own model
/// (Cloud:Verifier:ModelPath) and the shared <see cref="Detector"/>: the same model on the same JPEG gives the boxes the
/// verdict was made from. One detector (one intra-op thread), one frame at a time, the newest answers cached.
/// </summary>
public sealed class ReferenceBoxes(VerifierOptions options) : IDisposable
{
    private const int CacheEntries = 512;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<(string, long), Detection[]> _cache = new();
    private Detector? _detector;

    /// <summary>Whether a verifier model is configured; without one the gallery shows the edge's boxes only.</summary>
    public bool Enabled => !string.IsNullOrEmpty(options.ModelPath);

    /// <summary>The reference model's version and class names, once it is open.</summary>
    public ModelInfo? Model => _detector?.Model;

    /// <summary>The FP32 boxes on the frame, or null when no verifier model is configured or the JPEG cannot be decoded.</summary>
    public async Task<Detection[]?> DetectAsync(string deviceId, long sequence, byte[] jpeg, CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return null;
        }

        if (_cache.TryGetValue((deviceId, sequence), out var cached))
        {
            return cached;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            _detector ??= Detector.Open(options.ModelPath, new DetectorOptions { IntraOpThreads = 1 });
            using var image = Cv2.ImDecode(jpeg, ImreadModes.Color);
            if (image.Empty())
            {
                return null;
            }

            var boxes = _detector.Detect(image);
            if (_cache.Count >= CacheEntries)
            {
                _cache.Clear();
            }

            _cache[(deviceId, sequence)] = boxes;
            return boxes;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _detector?.Dispose();
        _gate.Dispose();
    }
}
