using System.Text.Json;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Onnx.Quantization;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>A job as the API shows it.</summary>
public sealed record ModelJobView(
    long Id,
    string Kind,
    string Model,
    int Version,
    string State,
    int Percent,
    string Message,
    string? Error,
    string InputsKey,
    string CalibrationSource,
    int CalibrationFrames,
    int HeldOutFrames,
    ModelJobResult? Result,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt);

/// <summary>The INT8 variant a job made.</summary>
public sealed record ModelJobResult(int Version, string Sha256, long SizeBytes);

/// <summary>
/// Submits and reports quantize jobs. A submission resolves its inputs at once (the FP32 parent, the quantizer's
/// defaults, the calibration and held-out frames by content hash), so asking twice with the same fleet data finds the
/// same job, and the job later runs on exactly the frames it was planned with.
/// </summary>
public sealed class QuantizeJobs(ModelStore models, ModelJobStore jobs, CalibrationFrames frames, ModelRegistryOptions options)
{
    public const string Kind = "quantize";

    /// <summary>Raised when a job is queued, so this silo's job service starts on it without waiting for its next poll.</summary>
    public event Action? Submitted;

    /// <exception cref="ModelRegistryException">No such version, or no frames to calibrate on.</exception>
    public async Task<(ModelJobView Job, bool Created)> SubmitAsync(string name, int version, CancellationToken cancellationToken = default)
    {
        var fp32 = await models.FindAsync(name, version, ModelStore.Fp32, cancellationToken)
            ?? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"Model {name} has no version {version} (yolofleet models list).");
        var (calibration, heldOut) = await frames.PlanAsync(cancellationToken);

        // The quantizer's own defaults: what `yolofleet quantize` does with no option is what the fleet gets.
        var settings = QuantizeInputs.SettingsOf(new QuantizerOptions(), options.CalibrationFrames, QuantizeInputs.GuardSetting(calibration));
        var inputs = new QuantizeInputs(name, version, fp32.Sha256, QuantizeInputs.QuantizerTool, settings, calibration, heldOut);
        var (job, created) = await jobs.SubmitAsync(Kind, name, version, inputs.Key(), inputs.ToJson(), cancellationToken);
        if (created)
        {
            Submitted?.Invoke();
        }

        return (await ToViewAsync(job, cancellationToken), created);
    }

    /// <exception cref="ModelRegistryException">No such job.</exception>
    public async Task<ModelJobView> GetAsync(long id, CancellationToken cancellationToken = default) =>
        await ToViewAsync(await jobs.GetAsync(id, cancellationToken) ?? throw new ModelRegistryException(RegistryErrorKind.NotFound, $"No job {id}."), cancellationToken);

    private async Task<ModelJobView> ToViewAsync(ModelJobRow job, CancellationToken cancellationToken)
    {
        QuantizeInputs? inputs = null;
        try
        {
            inputs = QuantizeInputs.FromJson(job.InputsJson);
        }
        catch (JsonException)
        {
            // Shown without its frame counts rather than not at all.
        }

        ModelJobResult? result = null;
        if (job.ResultVariantId is { } variantId && await models.FindByIdAsync(variantId, cancellationToken) is { } variant)
        {
            result = new ModelJobResult(variant.Version, variant.Sha256, variant.SizeBytes);
        }

        return new ModelJobView(
            job.Id, job.Kind, job.ModelName, job.SourceVersion, job.State, job.Percent, job.Message, job.Error, job.InputsKey,
            inputs?.Calibration.Source ?? "", inputs?.Calibration.Frames.Count ?? 0, inputs?.HeldOut.Frames.Count ?? 0, result,
            job.CreatedAt, job.StartedAt, job.FinishedAt);
    }
}
