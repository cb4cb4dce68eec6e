namespace YoloFleet.Inference.Tests.Scene;

/// <summary>
/// BGR frames as plain byte arrays, made without OpenCV: a textured static background, sensor-like noise (Gaussian per
/// pixel and channel, plus a small global brightness flicker, fresh every frame), and solid rectangles as objects.
/// Seeded, so every run draws the same frames.
/// </summary>
internal sealed class SyntheticFrames
{
    // Drawing a Gaussian per byte costs more than the gate under test: frames read a precomputed table from a random start.
    private const int NoiseTableLength = 1 << 20;

    private readonly byte[] _background;
    private readonly float[] _noise = new float[NoiseTableLength];
    private readonly Random _random;
    private readonly float _flicker;

    public SyntheticFrames(int width, int height, int seed = 1, float noiseSigma = 3f, float flicker = 1f)
    {
        Width = width;
        Height = height;
        _random = new Random(seed);
        _flicker = flicker;
        for (var i = 0; i < _noise.Length; i++)
        {
            _noise[i] = Gaussian() * noiseSigma;
        }

        _background = new byte[width * height * 3];
        // A plaza-like texture: gentle gradients plus paving blocks, so that noise lands on structure, not on a flat grey.
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var block = ((x / 24) + (y / 16)) % 2 == 0 ? 12 : -12;
                var value = 110 + block + (x * 40 / width) - (y * 30 / height);
                var offset = (y * width + x) * 3;
                _background[offset] = (byte)Math.Clamp(value - 6, 0, 255);
                _background[offset + 1] = (byte)Math.Clamp(value, 0, 255);
                _background[offset + 2] = (byte)Math.Clamp(value + 8, 0, 255);
            }
        }
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>A new noisy frame of the background with the given rectangles painted in solid colours.</summary>
    public byte[] Next(params (int X, int Y, int Width, int Height, byte Grey)[] objects)
    {
        var frame = (byte[])_background.Clone();
        foreach (var (x0, y0, w, h, grey) in objects)
        {
            for (var y = Math.Max(0, y0); y < Math.Min(Height, y0 + h); y++)
            {
                for (var x = Math.Max(0, x0); x < Math.Min(Width, x0 + w); x++)
                {
                    var offset = (y * Width + x) * 3;
                    frame[offset] = frame[offset + 1] = frame[offset + 2] = grey;
                }
            }
        }

        var shift = (float)(_random.NextDouble() * 2 - 1) * _flicker;
        var start = _random.Next(NoiseTableLength);
        for (var i = 0; i < frame.Length; i++)
        {
            frame[i] = (byte)Math.Clamp(MathF.Round(frame[i] + shift + _noise[(start + i * 7) & (NoiseTableLength - 1)]), 0, 255);
        }

        return frame;
    }

    private float Gaussian()
    {
        // Box-Muller.
        var u1 = 1.0 - _random.NextDouble();
        var u2 = _random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
