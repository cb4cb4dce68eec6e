namespace YoloFleet.Inference;

/// <summary>One detected object. Coordinates are pixels of the original image; (X1, Y1) is the top-left corner.</summary>
public readonly record struct Detection(int ClassId, float Score, float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;

    public float Height => Y2 - Y1;

    public float Area => Math.Max(0f, X2 - X1) * Math.Max(0f, Y2 - Y1);
}
