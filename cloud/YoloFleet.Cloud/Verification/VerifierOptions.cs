using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud.Verification;

/// <summary>Configuration section "Cloud:Verifier": the FP32 verifier that re-runs hard frames on the cloud model.</summary>
public sealed class VerifierOptions : IValidatableObject
{
    /// <summary>The cloud (FP32) ONNX model. Empty turns the verifier off; hard frames are still stored.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>Stateless workers, each with its own detector; 0 means cores / <see cref="ThreadsPerWorker"/>.</summary>
    [Range(0, 256)]
    public int Workers { get; set; }

    /// <summary>
    /// ONNX Runtime intra-op threads per worker (workers × threads should not exceed the cores). Two beat two
    /// single-threaded workers on the 2-core build machines (docs/storage.md).
    /// </summary>
    [Range(1, 64)]
    public int ThreadsPerWorker { get; set; } = 2;

    /// <summary>
    /// Hard frames waiting for a worker; when full, new ones are counted as dropped (they stay stored). Each holds its
    /// JPEG in memory (up to the protocol's 2 MB, typically ~100 kB).
    /// </summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 64;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(ModelPath) && !File.Exists(ModelPath))
        {
            yield return new ValidationResult(
                $"Cloud:Verifier:ModelPath '{ModelPath}' does not exist; name an ONNX model, or leave it empty to store hard frames unverified.",
                [nameof(ModelPath)]);
        }
    }

    public int EffectiveWorkers => Workers > 0 ? Workers : Math.Max(1, Environment.ProcessorCount / ThreadsPerWorker);
}
