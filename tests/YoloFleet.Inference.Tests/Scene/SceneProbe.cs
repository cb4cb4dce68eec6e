using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>
/// The whole scene path on synthetic frames with a stand-in detector, returning plain counts. It uses no OpenCV type,
/// so <see cref="NoOpenCvTests"/> can run it where OpenCvSharp cannot load at all; <see cref="SceneAnalyzerTests"/>
/// runs it as it is.
/// </summary>
/// <remarks>
/// 320x240 at 10 frames per second for 30 s: 15 s of a static camera with sensor noise; a dark 16x40 "person" walking
/// from x = 10 to x = 304 over 10 s (crossing a counting line at x = 160 and entering a zone over x > 200); then 5 s
/// static again with the person gone. The stand-in detector reports the person (score 0.8) when it lies wholly in a
/// region the plan asked for.
/// </remarks>
public static class SceneProbe
{
    public const int Frames = 300;
    public const int WalkStart = 150;
    public const int WalkEnd = 250;

    public static Dictionary<string, int> Run()
    {
        const int width = 320;
        const int height = 240;
        var start = new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
        var options = new SceneOptions();
        options.Zones.Zones.Add(new SceneZone("right", FramePolygon.FromCoordinates([200, 0, 320, 0, 320, 240, 200, 240])));
        options.Zones.Lines.Add(new CountingLine("middle", new FramePoint(160, 0), new FramePoint(160, 240)));
        var scene = new SceneAnalyzer(options, 416, 416);
        var frames = new SyntheticFrames(width, height, seed: 3);
        var counts = new Dictionary<string, int>();
        void Count(string key, int by = 1) => counts[key] = counts.GetValueOrDefault(key) + by;

        var trackIds = new HashSet<long>();
        for (var i = 0; i < Frames; i++)
        {
            var walking = i is >= WalkStart and < WalkEnd;
            var x = 10 + (i - WalkStart) * 3;
            var person = new PixelRect(x, 100, 16, 40);
            var pixels = walking ? frames.Next((x, 100, 16, 40, 25)) : frames.Next();
            var timestamp = start + TimeSpan.FromMilliseconds(100 * i);

            var plan = scene.Plan(FrameView.Packed(pixels, width, height, FramePixelFormat.Bgr24), timestamp);
            var phase = i < WalkStart ? "static" : walking ? "walking" : "after";
            Count($"{phase}.{plan.Kind}");
            Detection[] detections = [];
            if (plan.RunsDetector)
            {
                Count($"{phase}.runs", plan.Regions.Count);
                if (walking && plan.Regions.Any(region => region.Contains(person)))
                {
                    detections = [new Detection(0, 0.8f, person.X, person.Y, person.Right, person.Bottom)];
                }
            }

            var result = scene.Complete(detections);
            foreach (var item in result.Objects)
            {
                if (item.IsConfirmed)
                {
                    trackIds.Add(item.TrackId);
                    if (walking && item.ToDetection() is var box && Iou(box, person) >= 0.5f)
                    {
                        Count("walking.tracked");
                    }
                }
            }

            foreach (var objectEvent in result.Events)
            {
                Count($"event.{objectEvent.Kind}");
                if (objectEvent.Kind == ObjectEventKind.Ended)
                {
                    Count("ended.zones", objectEvent.Zones.Count);
                    Count("ended.lines", objectEvent.Lines.Count);
                    Count("ended.hasCrop", objectEvent.BestCrop is null ? 0 : 1);
                }
            }

            foreach (var zoneEvent in result.ZoneEvents)
            {
                Count($"zone.{zoneEvent.Zone}.{zoneEvent.Transition}");
            }

            foreach (var crossing in result.Crossings)
            {
                Count($"line.{crossing.Line}.{crossing.Direction}");
            }

            Count("crops", result.Crops.Count);
        }

        counts["tracks"] = trackIds.Count;
        return counts;
    }

    private static float Iou(Detection box, PixelRect rect)
    {
        var w = MathF.Min(box.X2, rect.Right) - MathF.Max(box.X1, rect.X);
        var h = MathF.Min(box.Y2, rect.Bottom) - MathF.Max(box.Y1, rect.Y);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }

        return w * h / (box.Area + rect.Area - w * h);
    }
}
