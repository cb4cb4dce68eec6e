using System.ComponentModel.DataAnnotations;

namespace YoloFleet.EdgeAgent.Scene;

/// <summary>
/// Configuration section "Agent:ObjectEvents": whether the agent follows objects with its scene (tracker, zones, lines;
/// Agent:Scene) and publishes their events (start, update, end) on the <c>events</c> topic, and how their pictures are
/// cut. Off by default: with it off and Agent:Scene:Mode WholeFrame the agent does exactly what it did before scenes.
/// </summary>
public sealed class ObjectEventsOptions
{
    public bool Enabled { get; set; }

    /// <summary>JPEG quality of an object's best crop (lowered step by step when a crop would not fit the protocol).</summary>
    [Range(10, 100)]
    public int JpegQuality { get; set; } = 85;

    /// <summary>A crop is scaled down so that its longer side is at most this many pixels (smaller events, enough to see the object).</summary>
    [Range(32, 2048)]
    public int MaxCropSide { get; set; } = 320;
}

/// <summary>Which frames get a per-frame detections message (Agent:Detection:Publish).</summary>
public enum DetectionsPublishing
{
    /// <summary>Every frame (as before scenes).</summary>
    All,

    /// <summary>At most one frame per Agent:Detection:SampleSeconds of frame time.</summary>
    Sampled,

    /// <summary>None: object events only.</summary>
    None,
}
