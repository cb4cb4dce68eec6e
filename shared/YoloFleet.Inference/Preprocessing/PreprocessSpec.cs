namespace YoloFleet.Inference.Preprocessing;

/// <summary>Which colour goes into the model's first input channel.</summary>
internal enum ChannelOrder
{
    Bgr,
    Rgb,
}

internal enum ResizeMode
{
    /// <summary>Scale to the input size, ignoring the aspect ratio.</summary>
    Stretch,

    /// <summary>Scale keeping the aspect ratio and fill the rest with <see cref="PreprocessSpec.PadValue"/>.</summary>
    Letterbox,
}

/// <summary>Where a letterboxed image sits inside the model input.</summary>
internal enum PadPlacement
{
    /// <summary>Image at the top-left, padding at the bottom and right (YOLOX).</summary>
    TopLeft,

    /// <summary>Image centred, padding split on both sides (Ultralytics).</summary>
    Center,
}

/// <summary>Three values, one per model input channel, in the model's channel order.</summary>
internal readonly record struct ChannelValues(float Channel0, float Channel1, float Channel2)
{
    public static ChannelValues All(float value) => new(value, value, value);

    public float this[int channel] => channel switch
    {
        0 => Channel0,
        1 => Channel1,
        2 => Channel2,
        _ => throw new ArgumentOutOfRangeException(nameof(channel)),
    };
}

/// <summary>
/// How a layout wants a BGR frame turned into its CHW float input, as data, so that each layout adapter states its
/// recipe and one preprocessor serves them all. Each input value is <c>(pixel * Scale - Mean[c]) / Std[c]</c>.
/// </summary>
internal sealed record PreprocessSpec(
    ChannelOrder ChannelOrder,
    ResizeMode Resize,
    PadPlacement PadPlacement,
    byte PadValue,
    float Scale,
    ChannelValues Mean,
    ChannelValues Std)
{
    /// <summary>YOLOX: BGR, raw 0..255, no normalisation, letterbox at the top-left padded with 114.</summary>
    public static PreprocessSpec Yolox { get; } = new(
        ChannelOrder.Bgr, ResizeMode.Letterbox, PadPlacement.TopLeft, PadValue: 114, Scale: 1f, ChannelValues.All(0f), ChannelValues.All(1f));

    /// <summary>Ultralytics (YOLOv5, YOLOv8, YOLO11, YOLOv10): RGB, /255, letterbox centred and padded with 114.</summary>
    public static PreprocessSpec Ultralytics { get; } = new(
        ChannelOrder.Rgb, ResizeMode.Letterbox, PadPlacement.Center, PadValue: 114, Scale: 1f / 255f, ChannelValues.All(0f), ChannelValues.All(1f));

    /// <summary>PP-PicoDet (PaddleDetection): RGB, plain resize, ImageNet mean/std on 0..255 values.</summary>
    public static PreprocessSpec PicoDet { get; } = new(
        ChannelOrder.Rgb, ResizeMode.Stretch, PadPlacement.TopLeft, PadValue: 0, Scale: 1f,
        new ChannelValues(123.675f, 116.28f, 103.53f), new ChannelValues(58.395f, 57.12f, 57.375f));
}
