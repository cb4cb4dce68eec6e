using System.ComponentModel.DataAnnotations;
using YoloFleet.Contracts;

namespace YoloFleet.EdgeAgent;

/// <summary>Configuration section "Agent" (appsettings.json, YOLOFLEET_Agent__* environment variables, --Agent:Key=value).</summary>
public sealed class EdgeAgentOptions : IValidatableObject
{
    public const string Section = "Agent";

    [Required(ErrorMessage = "Agent:DeviceId is required (letters, digits, '_', '-', '.'; at most 64).")]
    public string DeviceId { get; set; } = "";

    [Required(ErrorMessage = "Agent:ModelPath is required: the path of the ONNX model to run.")]
    public string ModelPath { get; set; } = "";

    /// <summary>Where the agent keeps its state (sequence counter; later the outbox and model slots).</summary>
    [Required]
    public string StateDirectory { get; set; } = "/var/lib/yolofleet-agent";

    [Required]
    public BrokerOptions Broker { get; set; } = new();

    [Required]
    public SourceOptions Source { get; set; } = new();

    public DetectionOptions Detection { get; set; } = new();

    [Required]
    public PipelineOptions Pipeline { get; set; } = new();

    [Required]
    public YoloFleet.EdgeAgent.Outbox.OutboxOptions Outbox { get; set; } = new();

    [Required]
    public YoloFleet.EdgeAgent.Outbox.BatchingOptions Batching { get; set; } = new();

    /// <summary>End-to-end delivery: what takes a message out of the outbox, and re-sends (Agent:Delivery).</summary>
    [Required]
    public YoloFleet.EdgeAgent.Outbox.DeliveryOptions Delivery { get; set; } = new();

    [Required]
    public YoloFleet.EdgeAgent.HardFrames.HardFrameOptions HardFrames { get; set; } = new();

    [Required]
    public YoloFleet.EdgeAgent.Telemetry.TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Model assignments, slots and health checks (Agent:Models; see Models/ModelOptions.cs).</summary>
    [Required]
    public YoloFleet.EdgeAgent.Models.ModelOptions Models { get; set; } = new();

    /// <summary>Shadow mode: a candidate model run beside the active one on sampled frames (section "Agent:Shadow").</summary>
    public YoloFleet.EdgeAgent.Shadow.ShadowOptions Shadow { get; set; } = new();

    /// <summary>The liveness file for health checks other than systemd's watchdog (Agent:Liveness; off by default).</summary>
    [Required]
    public YoloFleet.EdgeAgent.Pipeline.LivenessFileOptions Liveness { get; set; } = new();

    /// <summary>
    /// The camera's scene (Agent:Scene, docs/scene.md): how the detector is scheduled (Mode WholeFrame, the default:
    /// every whole frame as before; MotionGated: where and when something moves), and the tracker, zones and lines.
    /// </summary>
    [Required]
    public YoloFleet.Inference.Scene.SceneSettings Scene { get; set; } = new() { Mode = YoloFleet.Inference.Scene.SceneMode.WholeFrame };

    /// <summary>Object events from the scene (Agent:ObjectEvents); off by default.</summary>
    [Required]
    public YoloFleet.EdgeAgent.Scene.ObjectEventsOptions ObjectEvents { get; set; } = new();

    /// <summary>When a finite source ends, how long to wait for the outbox to empty before exiting.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!DeviceIds.IsValid(DeviceId))
        {
            yield return new ValidationResult($"Agent:DeviceId '{DeviceId}' is invalid: use 1-64 letters, digits, '_', '-' or '.'.", [nameof(DeviceId)]);
        }

        if (!string.IsNullOrEmpty(ModelPath) && !File.Exists(ModelPath))
        {
            yield return new ValidationResult($"Agent:ModelPath '{ModelPath}' does not exist.", [nameof(ModelPath)]);
        }

        if (!string.IsNullOrEmpty(Source.Folder) && !Directory.Exists(Source.Folder))
        {
            yield return new ValidationResult($"Agent:Source:Folder '{Source.Folder}' does not exist.", [nameof(Source)]);
        }

        if (!string.IsNullOrEmpty(Source.Video) && !File.Exists(Source.Video))
        {
            yield return new ValidationResult($"Agent:Source:Video '{Source.Video}' does not exist.", [nameof(Source)]);
        }

        // The scene's own checks name the bad value by its path ("Agent:Scene:Zones:0:Polygon must be ...").
        var sceneError = SceneError();
        if (sceneError is not null)
        {
            yield return new ValidationResult(sceneError, [nameof(Scene)]);
        }

        // Every nested section, at any depth (YoloFleet.Contracts.Configuration, shared with the cloud).
        foreach (var result in YoloFleet.Contracts.Configuration.NestedOptionsValidator.ValidateSections(this, Section))
        {
            yield return result;
        }
    }

    private string? SceneError()
    {
        try
        {
            Scene.ToOptions(Section + ":Scene");
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }
}

public sealed class BrokerOptions
{
    [Required]
    public string Host { get; set; } = "127.0.0.1";

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>The device's broker user name: must be the device id (checked at start; docs/security.md).</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>TLS and client certificate (Agent:Broker:Tls); see Identity/BrokerTlsOptions.cs.</summary>
    public YoloFleet.EdgeAgent.Identity.BrokerTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Keep a message in the outbox when the broker answers that nobody subscribes to it (no cloud session exists yet,
    /// so the broker would discard it), and send it again later. Turn off only where no cloud listens on purpose.
    /// </summary>
    public bool HoldWhenNoSubscriber { get; set; } = true;
}

public sealed class SourceOptions : IValidatableObject
{
    /// <summary>A folder of images (jpg, jpeg, png, bmp), processed in name order.</summary>
    public string Folder { get; set; } = "";

    /// <summary>A video file (any container and codec this OpenCV build decodes), read at the pipeline's pace.</summary>
    public string Video { get; set; } = "";

    /// <summary>An RTSP or HTTP stream URL (FFmpeg); live, so under load the newest frame wins.</summary>
    public string Stream { get; set; } = "";

    /// <summary>A V4L2 camera: a device path (/dev/video0) or its index (0); live, so under load the newest frame wins.</summary>
    public string Camera { get; set; } = "";

    /// <summary>Start again from the first image (or video frame) after the last.</summary>
    public bool Loop { get; set; }

    /// <summary>At most this many frames per second (0: as fast as the pipeline goes).</summary>
    [Range(0.0, 1000.0)]
    public double MaxFps { get; set; }

    /// <summary>Stop after this many frames (0: no limit).</summary>
    [Range(0, int.MaxValue)]
    public int MaxFrames { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var set = new[] { (nameof(Folder), Folder), (nameof(Video), Video), (nameof(Stream), Stream), (nameof(Camera), Camera) }
            .Where(source => !string.IsNullOrWhiteSpace(source.Item2)).Select(source => source.Item1).ToList();
        if (set.Count != 1)
        {
            yield return new ValidationResult(
                "Set exactly one frame source: Agent:Source:Folder (images), Video (a file), Stream (rtsp:// or http(s):// URL) or Camera (/dev/videoN or N)" +
                (set.Count == 0 ? "; none is set." : $"; {string.Join(" and ", set)} are set."), [.. set.DefaultIfEmpty(nameof(Folder))]);
        }

        if (!string.IsNullOrWhiteSpace(Stream) && !(Uri.TryCreate(Stream, UriKind.Absolute, out var uri) && uri.Scheme is "rtsp" or "rtsps" or "http" or "https"))
        {
            yield return new ValidationResult($"Agent:Source:Stream '{Stream}' is not an rtsp://, rtsps://, http:// or https:// URL.", [nameof(Stream)]);
        }
    }
}

/// <summary>Configuration section "Agent:Pipeline": how the capture, preprocess, infer and publish stages overlap.</summary>
public sealed class PipelineOptions
{
    /// <summary>
    /// Frames in flight between capture and publish, each with its own detector buffers. 1 runs preprocess, inference
    /// and publish one after another (capture still reads one frame ahead); 2-3 let frame N+1 be preprocessed while
    /// frame N infers.
    /// </summary>
    [Range(1, 8)]
    public int Slots { get; set; } = 3;
}

public sealed class DetectionOptions
{
    /// <summary>Unset: the model manifest's value, else the engine's default (0.25).</summary>
    [Range(0.0, 1.0)]
    public float? ConfidenceThreshold { get; set; }

    /// <summary>Unset: the model manifest's value, else the engine's default (0.45).</summary>
    [Range(0.0, 1.0)]
    public float? NmsIouThreshold { get; set; }

    [Range(0, 64)]
    public int IntraOpThreads { get; set; }

    /// <summary>Which frames get a detections message: All (default), Sampled (one per <see cref="SampleSeconds"/>) or None.</summary>
    public YoloFleet.EdgeAgent.Scene.DetectionsPublishing Publish { get; set; } = YoloFleet.EdgeAgent.Scene.DetectionsPublishing.All;

    /// <summary>With Publish Sampled: at most one detections message per this many seconds of frame time.</summary>
    [Range(0.01, 86_400.0)]
    public double SampleSeconds { get; set; } = 1;

    /// <summary>The detector settings every model the agent opens gets (the factory model, slots, candidates).</summary>
    public YoloFleet.Inference.DetectorOptions ToDetectorOptions()
    {
        // Only thresholds set in configuration override the model manifest's.
        var detectorOptions = new YoloFleet.Inference.DetectorOptions { IntraOpThreads = IntraOpThreads };
        if (ConfidenceThreshold is { } confidence)
        {
            detectorOptions.ConfidenceThreshold = confidence;
        }

        if (NmsIouThreshold is { } iou)
        {
            detectorOptions.NmsIouThreshold = iou;
        }

        return detectorOptions;
    }
}
