namespace YoloFleet.Inference.Preprocessing;

/// <summary>
/// How an original image was placed in the model input: <c>input = original * Scale + Offset</c> per axis.
/// Decoders produce boxes in input pixels; <see cref="ToOriginal"/> takes them back.
/// </summary>
internal readonly record struct ImageTransform(
    float ScaleX, float ScaleY, float OffsetX, float OffsetY, int OriginalWidth, int OriginalHeight, int ResizedWidth, int ResizedHeight)
{
    /// <summary>Works out the resize and placement of a <paramref name="originalWidth"/> x <paramref name="originalHeight"/> image.</summary>
    public static ImageTransform Fit(PreprocessSpec spec, int originalWidth, int originalHeight, int inputWidth, int inputHeight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(originalWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalHeight, 1);

        if (spec.Resize == ResizeMode.Stretch)
        {
            return new ImageTransform(
                (float)inputWidth / originalWidth, (float)inputHeight / originalHeight, 0f, 0f,
                originalWidth, originalHeight, inputWidth, inputHeight);
        }

        // One ratio for both axes keeps the aspect; boxes map back by dividing by it (as YOLOX's demo does).
        var ratio = Math.Min((float)inputWidth / originalWidth, (float)inputHeight / originalHeight);
        var resizedWidth = Math.Clamp((int)MathF.Round(originalWidth * ratio), 1, inputWidth);
        var resizedHeight = Math.Clamp((int)MathF.Round(originalHeight * ratio), 1, inputHeight);
        var (offsetX, offsetY) = spec.PadPlacement == PadPlacement.Center
            ? ((inputWidth - resizedWidth) / 2, (inputHeight - resizedHeight) / 2)
            : (0, 0);
        return new ImageTransform(ratio, ratio, offsetX, offsetY, originalWidth, originalHeight, resizedWidth, resizedHeight);
    }

    /// <summary>Maps a box from model-input pixels to original-image pixels, clamped to the image.</summary>
    public Detection ToOriginal(Detection inInput) => inInput with
    {
        X1 = Math.Clamp((inInput.X1 - OffsetX) / ScaleX, 0f, OriginalWidth),
        Y1 = Math.Clamp((inInput.Y1 - OffsetY) / ScaleY, 0f, OriginalHeight),
        X2 = Math.Clamp((inInput.X2 - OffsetX) / ScaleX, 0f, OriginalWidth),
        Y2 = Math.Clamp((inInput.Y2 - OffsetY) / ScaleY, 0f, OriginalHeight),
    };
}
