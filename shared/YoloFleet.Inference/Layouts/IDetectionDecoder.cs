using YoloFleet.Inference.Preprocessing;

namespace YoloFleet.Inference.Layouts;

/// <summary>
/// One model output layout (YOLOX, PP-PicoDet GFL, ...): how its input is prepared and how its raw outputs become
/// scored boxes. Each layout is a small class with a static <c>TryCreate(ModelSignature)</c> listed in
/// <see cref="ModelLayouts"/>, so adding a layout touches nothing else.
/// </summary>
internal interface IDetectionDecoder
{
    /// <summary>Short layout name reported in <see cref="ModelInfo.Layout"/>.</summary>
    string Layout { get; }

    int ClassCount { get; }

    PreprocessSpec Preprocess { get; }

    /// <summary>The outputs <see cref="Decode"/> reads, in the order it receives them, with every dimension fixed.</summary>
    IReadOnlyList<TensorSignature> Outputs { get; }

    /// <summary>The model already removed duplicate boxes (an end-to-end head), so the detector must not run NMS again.</summary>
    bool IsNmsFree => false;

    /// <summary>
    /// Appends every candidate scoring at least <paramref name="confidenceThreshold"/>, in model-input pixels, to
    /// <paramref name="candidates"/>. Implementations must test the score before doing any box maths and must not
    /// allocate: this runs on every frame.
    /// </summary>
    void Decode(IReadOnlyList<float[]> outputs, float confidenceThreshold, List<Detection> candidates);
}
