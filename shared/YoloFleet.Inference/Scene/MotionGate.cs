using System.Numerics.Tensors;

namespace YoloFleet.Inference.Scene;

/// <summary>What the motion gate saw in one frame. The box list belongs to the gate and is reused by its next call.</summary>
/// <param name="Boxes">Where something moved, in frame pixels, the largest first; empty when nothing did.</param>
/// <param name="ChangedFraction">The share of unmasked analysis pixels that changed.</param>
/// <param name="GlobalChange">Too much changed at once to be objects (lighting, camera): <paramref name="Boxes"/> is the whole frame.</param>
/// <param name="Threshold">The grey-level change that counted as motion in this frame.</param>
/// <param name="NoiseLevel">The frame's measured noise (standard deviation in grey levels of the analysis image).</param>
/// <param name="IsFirstFrame">The background was (re)started from this frame, so nothing could be compared.</param>
public readonly record struct MotionResult(
    IReadOnlyList<PixelRect> Boxes, float ChangedFraction, bool GlobalChange, float Threshold, float NoiseLevel, bool IsFirstFrame)
{
    public bool HasMotion => Boxes.Count > 0;
}

/// <summary>
/// Cheap motion detection with no OpenCV: the frame is averaged to a small grey image, compared with a running-average
/// background, thresholded above the larger of a fixed level and the measured noise, masked, dilated, and grouped into
/// connected components whose boxes are scaled back to frame pixels. It reads plain bytes (<see cref="FrameView"/>),
/// so it runs where OpenCV's native library does not (the arm64 agent build). Every buffer is allocated once per frame
/// size, so a steady stream of frames allocates nothing. Not thread-safe: one gate per camera.
/// </summary>
public sealed class MotionGate
{
    // BT.601 luma in 8-bit fixed point (29 B + 150 G + 77 R) / 256, as OpenCV's BGR2GRAY rounds it.
    private const int BlueWeight = 29;
    private const int GreenWeight = 150;
    private const int RedWeight = 77;

    // For Gaussian noise, the median absolute deviation is 0.6745 standard deviations.
    private const float MedianToStandardDeviation = 1.4826f;

    private readonly MotionGateOptions _options;
    private readonly List<PixelRect> _boxes = [];
    private readonly List<Blob> _blobs = [];
    private readonly int[] _histogram = new int[256];

    private int _frameWidth;
    private int _frameHeight;
    private int _block;
    private int _width;
    private int _height;
    private int[] _rowSums = [];
    private float[] _grey = [];
    private float[] _background = [];
    private float[] _difference = [];
    private bool[] _masked = [];
    private int _unmaskedCount;
    private byte[] _foreground = [];
    private byte[] _dilatedRows = [];
    private byte[] _dilated = [];
    private int[] _labels = [];
    private int[] _stack = [];
    private bool _hasBackground;
    private DateTimeOffset _lastTimestamp;
    private float _noiseLevel = -1f;

    public MotionGate(MotionGateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Side of the square block of frame pixels that one analysis pixel averages (0 before the first frame).</summary>
    public int BlockSize => _block;

    /// <summary>The analysis image's size.</summary>
    public (int Width, int Height) AnalysisSize => (_width, _height);

    /// <summary>Forgets the background: the next frame starts a new one (after a camera reconnects, or a model swap paused the stream).</summary>
    public void Reset() => _hasBackground = false;

    /// <summary>
    /// Compares a frame with the background, then folds it into the background. <paramref name="timestamp"/> is the
    /// frame's capture time: the background's learning rate follows the time between frames, not their count, so a
    /// camera at 5 or 30 frames per second behaves the same. A new frame size restarts the background.
    /// </summary>
    public MotionResult Process(FrameView frame, DateTimeOffset timestamp)
    {
        if (frame.Width != _frameWidth || frame.Height != _frameHeight)
        {
            Allocate(frame.Width, frame.Height);
        }

        Downscale(frame);
        _boxes.Clear();
        if (!_hasBackground)
        {
            _grey.AsSpan().CopyTo(_background);
            _hasBackground = true;
            _lastTimestamp = timestamp;
            return new MotionResult(_boxes, 0f, false, _options.Threshold, Math.Max(0f, _noiseLevel), IsFirstFrame: true);
        }

        var grey = _grey.AsSpan();
        var background = _background.AsSpan();
        var difference = _difference.AsSpan();
        TensorPrimitives.Subtract(grey, background, difference);
        TensorPrimitives.Abs(difference, difference);

        var threshold = ThresholdFor(difference);
        var changed = MarkChanged(difference, threshold);
        var changedFraction = _unmaskedCount == 0 ? 0f : (float)changed / _unmaskedCount;

        // The learning rate for this frame's time step: 1 - e^(-dt / tau), so that the background's memory is in seconds.
        var seconds = Math.Clamp((timestamp - _lastTimestamp).TotalSeconds, 0, 3600);
        _lastTimestamp = timestamp;
        if (changedFraction > _options.GlobalChangeFraction)
        {
            // Not objects: a lighting change or a moved camera. Start over from this frame rather than report the
            // whole frame as moving until the background has caught up.
            grey.CopyTo(background);
            _boxes.Add(new PixelRect(0, 0, _frameWidth, _frameHeight));
            return new MotionResult(_boxes, changedFraction, true, threshold, _noiseLevel, IsFirstFrame: false);
        }

        var rate = (float)(1 - Math.Exp(-seconds / _options.BackgroundSeconds));
        TensorPrimitives.Lerp(background, grey, rate, background);

        if (changed >= _options.MinBlobPixels)
        {
            Dilate();
            FindBlobs();
        }

        return new MotionResult(_boxes, changedFraction, false, threshold, _noiseLevel, IsFirstFrame: false);
    }

    private void Allocate(int frameWidth, int frameHeight)
    {
        _frameWidth = frameWidth;
        _frameHeight = frameHeight;
        _block = Math.Clamp((frameWidth + _options.AnalysisWidth - 1) / _options.AnalysisWidth, 1, Math.Min(frameWidth, frameHeight));
        _width = frameWidth / _block;
        _height = frameHeight / _block;

        var length = _width * _height;
        _rowSums = new int[3 * _width];
        _grey = new float[length];
        _background = new float[length];
        _difference = new float[length];
        _foreground = new byte[length];
        _dilatedRows = new byte[length];
        _dilated = new byte[length];
        _labels = new int[length];
        _stack = new int[length];
        _masked = new bool[length];
        _unmaskedCount = length;
        if (_options.Masks.Count > 0)
        {
            // An analysis pixel is masked when its centre, in frame pixels, lies in a mask.
            for (var y = 0; y < _height; y++)
            {
                for (var x = 0; x < _width; x++)
                {
                    var centre = new FramePoint((x + 0.5f) * _block, (y + 0.5f) * _block);
                    foreach (var mask in _options.Masks)
                    {
                        if (mask.Contains(centre))
                        {
                            _masked[y * _width + x] = true;
                            _unmaskedCount--;
                            break;
                        }
                    }
                }
            }
        }

        _hasBackground = false;
        _noiseLevel = -1f;
    }

    /// <summary>
    /// Averages each block x block square of the frame into one grey analysis pixel. Blue, green and red are summed
    /// apart and weighted once per analysis pixel: the per-pixel work is three additions. This loop reads every byte of
    /// every frame, so it is the one place in the gate written for speed (pointers, no bounds checks).
    /// </summary>
    private unsafe void Downscale(FrameView frame)
    {
        var block = _block;
        var width = _width;
        var bgr = frame.Format == FramePixelFormat.Bgr24;
        var sums = _rowSums;
        var scale = 1f / (block * block * (bgr ? 256 : 1));
        fixed (byte* pixels = frame.Pixels)
        fixed (int* sum = sums)
        fixed (float* grey = _grey)
        {
            for (var y = 0; y < _height; y++)
            {
                new Span<int>(sum, sums.Length).Clear();
                for (var row = 0; row < block; row++)
                {
                    var source = pixels + (long)(y * block + row) * frame.Stride;
                    if (bgr)
                    {
                        for (var x = 0; x < width; x++)
                        {
                            int blue = 0, green = 0, red = 0;
                            for (var k = 0; k < block; k++, source += 3)
                            {
                                blue += source[0];
                                green += source[1];
                                red += source[2];
                            }

                            sum[3 * x] += blue;
                            sum[3 * x + 1] += green;
                            sum[3 * x + 2] += red;
                        }
                    }
                    else
                    {
                        for (var x = 0; x < width; x++)
                        {
                            var value = 0;
                            for (var k = 0; k < block; k++, source++)
                            {
                                value += *source;
                            }

                            sum[3 * x] += value;
                        }
                    }
                }

                var target = grey + y * width;
                for (var x = 0; x < width; x++)
                {
                    target[x] = bgr
                        ? (sum[3 * x] * BlueWeight + sum[3 * x + 1] * GreenWeight + sum[3 * x + 2] * RedWeight) * scale
                        : sum[3 * x] * scale;
                }
            }
        }
    }

    /// <summary>
    /// The larger of the fixed threshold and <see cref="MotionGateOptions.NoiseMultiplier"/> times the noise, measured
    /// as the median absolute difference of the unmasked pixels and smoothed over frames.
    /// </summary>
    private float ThresholdFor(ReadOnlySpan<float> difference)
    {
        if (_options.NoiseMultiplier <= 0f || _unmaskedCount == 0)
        {
            return _options.Threshold;
        }

        var histogram = _histogram.AsSpan();
        histogram.Clear();
        for (var i = 0; i < difference.Length; i++)
        {
            if (!_masked[i])
            {
                histogram[Math.Min(255, (int)(difference[i] * 4f))]++;
            }
        }

        // Quarter grey levels: below one level, where the averaged noise of a good camera sits, whole levels would
        // round the median to 0.
        var half = (_unmaskedCount + 1) / 2;
        var median = 0;
        for (var seen = 0; median < 255; median++)
        {
            seen += histogram[median];
            if (seen >= half)
            {
                break;
            }
        }

        var noise = (median + 0.5f) / 4f * MedianToStandardDeviation;
        _noiseLevel = _noiseLevel < 0f ? noise : _noiseLevel + 0.1f * (noise - _noiseLevel);
        return MathF.Max(_options.Threshold, _options.NoiseMultiplier * _noiseLevel);
    }

    private int MarkChanged(ReadOnlySpan<float> difference, float threshold)
    {
        var foreground = _foreground.AsSpan();
        var changed = 0;
        for (var i = 0; i < difference.Length; i++)
        {
            var isChanged = difference[i] > threshold && !_masked[i];
            foreground[i] = isChanged ? (byte)1 : (byte)0;
            changed += isChanged ? 1 : 0;
        }

        return changed;
    }

    /// <summary>A square dilation as two passes of a running maximum (rows, then columns).</summary>
    private void Dilate()
    {
        var radius = _options.DilationRadius;
        var (width, height) = (_width, _height);
        if (radius == 0)
        {
            _foreground.AsSpan().CopyTo(_dilated);
            return;
        }

        for (var y = 0; y < height; y++)
        {
            var source = _foreground.AsSpan(y * width, width);
            var target = _dilatedRows.AsSpan(y * width, width);
            for (var x = 0; x < width; x++)
            {
                var from = Math.Max(0, x - radius);
                var to = Math.Min(width - 1, x + radius);
                target[x] = source[from..(to + 1)].Contains((byte)1) ? (byte)1 : (byte)0;
            }
        }

        for (var y = 0; y < height; y++)
        {
            var from = Math.Max(0, y - radius);
            var to = Math.Min(height - 1, y + radius);
            var target = _dilated.AsSpan(y * width, width);
            _dilatedRows.AsSpan(from * width, width).CopyTo(target);
            for (var other = from + 1; other <= to; other++)
            {
                var source = _dilatedRows.AsSpan(other * width, width);
                for (var x = 0; x < width; x++)
                {
                    target[x] |= source[x];
                }
            }
        }
    }

    /// <summary>
    /// 8-connected components of the dilated mask by flood fill. A component's box is that of its changed pixels
    /// (not of the dilation, which only joins them), and it counts only if it has enough of them.
    /// </summary>
    private void FindBlobs()
    {
        var (width, height) = (_width, _height);
        var labels = _labels.AsSpan();
        labels.Clear();
        _blobs.Clear();
        var label = 0;
        for (var start = 0; start < labels.Length; start++)
        {
            if (_dilated[start] == 0 || labels[start] != 0)
            {
                continue;
            }

            label++;
            var blob = new Blob(int.MaxValue, int.MaxValue, -1, -1, 0);
            var top = 0;
            _stack[top++] = start;
            labels[start] = label;
            while (top > 0)
            {
                var index = _stack[--top];
                var (x, y) = (index % width, index / width);
                if (_foreground[index] != 0)
                {
                    blob = new Blob(Math.Min(blob.Left, x), Math.Min(blob.Top, y), Math.Max(blob.Right, x), Math.Max(blob.Bottom, y), blob.Pixels + 1);
                }

                for (var dy = -1; dy <= 1; dy++)
                {
                    var ny = y + dy;
                    if (ny < 0 || ny >= height)
                    {
                        continue;
                    }

                    for (var dx = -1; dx <= 1; dx++)
                    {
                        var nx = x + dx;
                        if (nx < 0 || nx >= width)
                        {
                            continue;
                        }

                        var neighbour = ny * width + nx;
                        if (_dilated[neighbour] != 0 && labels[neighbour] == 0)
                        {
                            labels[neighbour] = label;
                            _stack[top++] = neighbour;
                        }
                    }
                }
            }

            if (blob.Pixels >= _options.MinBlobPixels)
            {
                _blobs.Add(blob);
            }
        }

        _blobs.Sort(static (a, b) => ((long)(b.Right - b.Left + 1) * (b.Bottom - b.Top + 1)).CompareTo((long)(a.Right - a.Left + 1) * (a.Bottom - a.Top + 1)));
        var count = Math.Min(_blobs.Count, _options.MaxBoxes);
        for (var i = 0; i < count; i++)
        {
            var blob = _blobs[i];
            // Analysis pixels back to frame pixels; the last block of a row or column also takes the few pixels that
            // did not fill a whole block.
            var left = blob.Left * _block;
            var topEdge = blob.Top * _block;
            var right = blob.Right == _width - 1 ? _frameWidth : (blob.Right + 1) * _block;
            var bottom = blob.Bottom == _height - 1 ? _frameHeight : (blob.Bottom + 1) * _block;
            _boxes.Add(PixelRect.FromEdges(left, topEdge, right, bottom));
        }
    }

    private readonly record struct Blob(int Left, int Top, int Right, int Bottom, int Pixels);
}
