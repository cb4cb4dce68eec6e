using System.ComponentModel.DataAnnotations;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>Configuration section "Agent:Models": model assignments from the cloud, slots, health checks (docs/edge-agent.md).</summary>
public sealed class ModelOptions : IValidatableObject
{
    /// <summary>
    /// The public keys (ECDSA P-256, SubjectPublicKeyInfo PEM) whose signatures the agent accepts on model manifests:
    /// each entry is the PEM text itself or the path of a PEM file. Several keys at once are how a key is rotated
    /// (docs/registry.md). Empty: every assignment is refused, and the agent runs its factory model.
    /// </summary>
    public List<string> TrustedKeys { get; set; } = [];

    /// <summary>
    /// The health check's latency bound: a model's median latency on the self-test image (and on the first frames after
    /// the switch) must stay at or under this, in milliseconds. An assignment's max_latency_ms, when set, replaces it.
    /// </summary>
    [Range(0.001, 600_000.0)]
    public double MaxLatencyMs { get; set; } = 1000;

    /// <summary>An image the health check and the benchmark run the model on; empty: a generated one (the same every time).</summary>
    public string SelfTestImage { get; set; } = "";

    /// <summary>Timed runs of the health check on the self-test image, after one untimed warm-up run.</summary>
    [Range(1, 1000)]
    public int HealthCheckRuns { get; set; } = 5;

    /// <summary>Frames the pipeline must run on a new model after the switch before it is confirmed (or <see cref="ConfirmTimeout"/>).</summary>
    [Range(1, 10_000)]
    public int ConfirmFrames { get; set; } = 10;

    /// <summary>How long to wait for <see cref="ConfirmFrames"/>; with fewer frames (an idle source) the self-test decides.</summary>
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Starts allowed on a model that was switched to but not yet confirmed; past this the agent falls back to the
    /// previous slot, so a model that crashes the process cannot keep it in a restart loop.
    /// </summary>
    [Range(1, 10)]
    public int MaxUnconfirmedStarts { get; set; } = 2;

    /// <summary>Untimed runs before a variant's benchmark, so that caches and the thread pool are warm.</summary>
    [Range(0, 100)]
    public int BenchmarkWarmupRuns { get; set; } = 3;

    /// <summary>Timed runs of a variant's benchmark (median and p95 are reported).</summary>
    [Range(1, 10_000)]
    public int BenchmarkRuns { get; set; } = 20;

    /// <summary>
    /// Accept plain http:// download URLs. Off by default: the signature protects the file either way, but a download
    /// URL may carry a token, which plain HTTP exposes. Turn on for a registry on a trusted local network (and in tests).
    /// </summary>
    public bool AllowHttp { get; set; }

    /// <summary>Attempts of a download that make no progress before it is given up (an attempt that moves the file forward does not count).</summary>
    [Range(1, 100)]
    public int DownloadAttempts { get; set; } = 6;

    /// <summary>The wait after the first failed attempt; it doubles after each, up to <see cref="DownloadMaxRetryDelay"/>.</summary>
    public TimeSpan DownloadRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan DownloadMaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A connection that delivers nothing for this long is dropped and resumed.</summary>
    public TimeSpan DownloadStallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest model file the agent takes; a manifest naming a larger one is refused ("disk").</summary>
    [Range(1024, long.MaxValue)]
    public long MaxModelBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>After a failure that may pass (download, disk), the same assignment is tried again after this long.</summary>
    public TimeSpan RetryFailedAfter { get; set; } = TimeSpan.FromMinutes(5);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(SelfTestImage) && !File.Exists(SelfTestImage))
        {
            yield return new ValidationResult($"Agent:Models:SelfTestImage '{SelfTestImage}' does not exist.", [nameof(SelfTestImage)]);
        }

        foreach (var (name, value) in new[]
                 {
                     (nameof(ConfirmTimeout), ConfirmTimeout), (nameof(DownloadRetryDelay), DownloadRetryDelay),
                     (nameof(DownloadMaxRetryDelay), DownloadMaxRetryDelay), (nameof(DownloadStallTimeout), DownloadStallTimeout),
                     (nameof(RetryFailedAfter), RetryFailedAfter),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"Agent:Models:{name} must be positive; it is {value}.", [name]);
            }
        }

        string? keyProblem = null;
        try
        {
            using var trust = TrustedKeyLoader.Load(TrustedKeys);
        }
        catch (ArgumentException ex)
        {
            keyProblem = ex.Message;
        }

        if (keyProblem is not null)
        {
            yield return new ValidationResult($"Agent:Models:TrustedKeys: {keyProblem}", [nameof(TrustedKeys)]);
        }
    }
}
