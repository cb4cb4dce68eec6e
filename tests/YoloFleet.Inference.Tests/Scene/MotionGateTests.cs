using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>The OpenCV-free motion gate on synthetic BGR and grey byte frames at 10 frames per second.</summary>
[Trait("Category", "Scene")]
public sealed class MotionGateTests
{
    private const int Width = 320;
    private const int Height = 240;
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_static_stretch_with_sensor_noise_shows_no_motion_and_a_walker_wakes_the_gate_at_once()
    {
        var frames = new SyntheticFrames(Width, Height, noiseSigma: 3f, flicker: 1f);
        var gate = new MotionGate(new MotionGateOptions());

        // 30 seconds of a static camera: not one frame may report motion.
        var falseAlarms = 0;
        for (var i = 0; i < 300; i++)
        {
            var result = gate.Process(FrameView.Packed(frames.Next(), Width, Height, FramePixelFormat.Bgr24), At(i));
            falseAlarms += result.HasMotion ? 1 : 0;
            Assert.False(result.GlobalChange);
        }

        Assert.Equal(0, falseAlarms);

        // A dark 16x40 "person" walks in from the left at 6 pixels per frame: every frame it is in view reports it.
        for (var step = 0; step < 20; step++)
        {
            var x = -10 + step * 6;
            var result = gate.Process(FrameView.Packed(frames.Next((x, 100, 16, 40, 30)), Width, Height, FramePixelFormat.Bgr24), At(300 + step));
            var person = new PixelRect(Math.Max(0, x), 100, Math.Min(16, x + 16), 40);
            Assert.True(result.HasMotion, $"no motion at step {step}");
            Assert.Contains(result.Boxes, box => box.Overlaps(person));
            // Every box is near the person (its trail included), none elsewhere.
            Assert.All(result.Boxes, box => Assert.True(box.Overlaps(person.Inflate(40, 16)), $"box {box} far from the person {person}"));
        }
    }

    [Fact]
    public void A_heavier_noise_raises_the_threshold_instead_of_raising_alarms()
    {
        // Sigma 12 per pixel: a poor sensor at night. Averaging 2x2 blocks leaves sigma 6 per analysis pixel, which the
        // fixed threshold alone (10) would cross on about 10% of the pixels.
        var frames = new SyntheticFrames(Width, Height, seed: 7, noiseSigma: 12f, flicker: 2f);
        var gate = new MotionGate(new MotionGateOptions());

        var alarms = 0;
        MotionResult last = default;
        for (var i = 0; i < 200; i++)
        {
            last = gate.Process(FrameView.Packed(frames.Next(), Width, Height, FramePixelFormat.Bgr24), At(i));
            alarms += i >= 10 && last.HasMotion ? 1 : 0;
        }

        Assert.Equal(0, alarms);
        Assert.True(last.Threshold > 10f, $"threshold {last.Threshold}");
        Assert.InRange(last.NoiseLevel, 3f, 9f);

        var moving = gate.Process(FrameView.Packed(frames.Next((100, 100, 24, 48, 10)), Width, Height, FramePixelFormat.Bgr24), At(200));
        Assert.True(moving.HasMotion);
    }

    [Fact]
    public void Motion_inside_a_mask_is_ignored_and_outside_it_is_not()
    {
        var frames = new SyntheticFrames(Width, Height);
        var options = new MotionGateOptions();
        // A swaying tree in the top-left corner.
        options.Masks.Add(FramePolygon.FromCoordinates([0, 0, 120, 0, 120, 90, 0, 90]));
        var gate = new MotionGate(options);
        gate.Process(FrameView.Packed(frames.Next(), Width, Height, FramePixelFormat.Bgr24), At(0));

        for (var i = 1; i < 40; i++)
        {
            // The tree flickers between dark and bright every frame.
            var tree = (20, 10, 60, 60, (byte)(i % 2 == 0 ? 20 : 230));
            var result = gate.Process(FrameView.Packed(frames.Next(tree), Width, Height, FramePixelFormat.Bgr24), At(i));
            Assert.False(result.HasMotion, $"masked flicker reported at frame {i}");
        }

        var outside = gate.Process(FrameView.Packed(frames.Next((200, 150, 20, 40, 20)), Width, Height, FramePixelFormat.Bgr24), At(40));
        Assert.True(outside.HasMotion);
        Assert.All(outside.Boxes, box => Assert.False(box.Overlaps(new PixelRect(0, 0, 110, 80))));
    }

    [Fact]
    public void A_lighting_change_is_one_global_change_then_quiet()
    {
        var frames = new SyntheticFrames(Width, Height);
        var gate = new MotionGate(new MotionGateOptions());
        for (var i = 0; i < 10; i++)
        {
            gate.Process(FrameView.Packed(frames.Next(), Width, Height, FramePixelFormat.Bgr24), At(i));
        }

        // The lights go up by 40 grey levels and stay.
        byte[] Brighter()
        {
            var frame = frames.Next();
            for (var i = 0; i < frame.Length; i++)
            {
                frame[i] = (byte)Math.Min(255, frame[i] + 40);
            }

            return frame;
        }

        var change = gate.Process(FrameView.Packed(Brighter(), Width, Height, FramePixelFormat.Bgr24), At(10));
        Assert.True(change.GlobalChange);
        Assert.Equal([new PixelRect(0, 0, Width, Height)], change.Boxes);

        for (var i = 11; i < 30; i++)
        {
            Assert.False(gate.Process(FrameView.Packed(Brighter(), Width, Height, FramePixelFormat.Bgr24), At(i)).HasMotion);
        }
    }

    [Fact]
    public void Something_that_stops_fades_into_the_background()
    {
        var frames = new SyntheticFrames(Width, Height);
        var options = new MotionGateOptions { BackgroundSeconds = 2 };
        var gate = new MotionGate(options);
        gate.Process(FrameView.Packed(frames.Next(), Width, Height, FramePixelFormat.Bgr24), At(0));

        // A parked object appears at frame 1 and stays: it moves at first, and is background after a few time constants.
        var first = gate.Process(FrameView.Packed(frames.Next((150, 120, 40, 30, 20)), Width, Height, FramePixelFormat.Bgr24), At(1));
        Assert.True(first.HasMotion);
        MotionResult result = default;
        for (var i = 2; i <= 100; i++)
        {
            result = gate.Process(FrameView.Packed(frames.Next((150, 120, 40, 30, 20)), Width, Height, FramePixelFormat.Bgr24), At(i));
        }

        Assert.False(result.HasMotion);
    }

    [Fact]
    public void Grey_frames_and_strided_rows_work_like_packed_colour()
    {
        // The same scene as grey bytes in rows padded to 336 bytes, as camera buffers often are.
        const int stride = 336;
        var frames = new SyntheticFrames(Width, Height);
        var gate = new MotionGate(new MotionGateOptions());
        byte[] Grey(byte[] bgr)
        {
            var grey = new byte[stride * Height];
            for (var y = 0; y < Height; y++)
            {
                for (var x = 0; x < Width; x++)
                {
                    var offset = (y * Width + x) * 3;
                    grey[y * stride + x] = (byte)((bgr[offset] * 29 + bgr[offset + 1] * 150 + bgr[offset + 2] * 77) >> 8);
                }
            }

            return grey;
        }

        for (var i = 0; i < 50; i++)
        {
            Assert.False(gate.Process(new FrameView(Grey(frames.Next()), Width, Height, stride, FramePixelFormat.Gray8), At(i)).HasMotion);
        }

        var moving = gate.Process(new FrameView(Grey(frames.Next((250, 60, 20, 50, 20))), Width, Height, stride, FramePixelFormat.Gray8), At(50));
        Assert.True(moving.HasMotion);
        Assert.Contains(moving.Boxes, box => box.Overlaps(new PixelRect(250, 60, 20, 50)));
        Assert.Equal((160, 120), gate.AnalysisSize);
    }

    [Fact]
    public void A_frame_view_refuses_sizes_its_buffer_cannot_hold()
    {
        Assert.Throws<ArgumentException>(() => new FrameView(new byte[100], 10, 10, 10, FramePixelFormat.Bgr24));
        Assert.Throws<ArgumentException>(() => new FrameView(new byte[299], 10, 10, 30, FramePixelFormat.Bgr24));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MotionGate(new MotionGateOptions { Threshold = 0 }));
    }

    private static DateTimeOffset At(int frame) => Start + TimeSpan.FromMilliseconds(100 * frame);
}
