using YoloFleet.Inference.Scene;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>One object of a synthetic scene: where its box is in each frame, and when the detector cannot see it.</summary>
internal sealed record TruthObject(int Id, int ClassId, float Width, float Height, int FirstFrame, int LastFrame, Func<int, (float X, float Y)> Centre)
{
    /// <summary>Frames in which it is hidden (behind a pillar): no detection.</summary>
    public Func<int, bool> Hidden { get; init; } = _ => false;

    /// <summary>Its detection score in a frame, before noise.</summary>
    public Func<int, float> Score { get; init; } = _ => 0.7f;

    public (float X1, float Y1, float X2, float Y2) Box(int frame)
    {
        var (x, y) = Centre(frame);
        return (x - Width / 2, y - Height / 2, x + Width / 2, y + Height / 2);
    }
}

/// <summary>
/// A synthetic scene with known identities, and what a detector would report in it: each visible object's box with
/// jitter (3% of its size), a score with noise, a miss now and then, a false positive now and then, boxes clipped to
/// the frame, and the detector's per-class NMS at IoU 0.45, so that when two objects of a class overlap heavily only
/// one box survives, as with a real detector.
/// </summary>
internal sealed class SyntheticTrajectories(string name, int width, int height, int frames, IReadOnlyList<TruthObject> objects)
{
    public string Name { get; } = name;

    public int Width { get; } = width;

    public int Height { get; } = height;

    public int Frames { get; } = frames;

    public IReadOnlyList<TruthObject> Objects { get; } = objects;

    public double MissRate { get; init; } = 0.03;

    /// <summary>The chance, per frame, of one false positive: a confident box somewhere nothing is.</summary>
    public double FalsePositivesPerFrame { get; init; } = 0.2;

    /// <summary>Objects in view in a frame (at least half of the box inside), with their boxes clipped to the frame.</summary>
    public IEnumerable<(int Id, Detection Box)> Truth(int frame)
    {
        foreach (var item in Objects)
        {
            if (frame < item.FirstFrame || frame > item.LastFrame)
            {
                continue;
            }

            var (x1, y1, x2, y2) = item.Box(frame);
            var clipped = Clip(new Detection(item.ClassId, 1f, x1, y1, x2, y2));
            if (clipped.Area >= 0.5f * item.Width * item.Height)
            {
                yield return (item.Id, clipped);
            }
        }
    }

    /// <summary>What the detector reports in a frame, drawn from <paramref name="random"/>.</summary>
    public List<Detection> Detect(int frame, Random random)
    {
        var raw = new List<Detection>();
        foreach (var item in Objects)
        {
            if (frame < item.FirstFrame || frame > item.LastFrame || item.Hidden(frame) || random.NextDouble() < MissRate)
            {
                continue;
            }

            var (x1, y1, x2, y2) = item.Box(frame);
            var jitterX = Gaussian(random) * 0.03f * item.Width;
            var jitterY = Gaussian(random) * 0.03f * item.Height;
            var grow = Gaussian(random) * 0.03f;
            var (cx, cy) = ((x1 + x2) / 2 + jitterX, (y1 + y2) / 2 + jitterY);
            var (w, h) = (item.Width * (1 + grow), item.Height * (1 + grow));
            var score = Math.Clamp(item.Score(frame) + Gaussian(random) * 0.05f, 0.01f, 0.99f);
            var box = Clip(new Detection(item.ClassId, score, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2));
            if (box.Area >= 0.2f * item.Width * item.Height)
            {
                raw.Add(box);
            }
        }

        if (random.NextDouble() < FalsePositivesPerFrame)
        {
            // False positives: lone boxes in random places, never twice in the same place.
            var x = (float)random.NextDouble() * (Width - 40);
            var y = (float)random.NextDouble() * (Height - 80);
            raw.Add(new Detection(0, 0.3f + (float)random.NextDouble() * 0.2f, x, y, x + 30, y + 70));
        }

        raw.Sort(static (a, b) => b.Score.CompareTo(a.Score));
        var kept = new List<Detection>();
        foreach (var candidate in raw)
        {
            if (!kept.Exists(other => other.ClassId == candidate.ClassId && Iou(other, candidate) > 0.45f))
            {
                kept.Add(candidate);
            }
        }

        return kept;
    }

    public static float Iou(in Detection a, in Detection b)
    {
        var w = MathF.Min(a.X2, b.X2) - MathF.Max(a.X1, b.X1);
        var h = MathF.Min(a.Y2, b.Y2) - MathF.Max(a.Y1, b.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }

        var intersection = w * h;
        return intersection / (a.Area + b.Area - intersection);
    }

    private Detection Clip(Detection box) => box with
    {
        X1 = Math.Clamp(box.X1, 0, Width),
        Y1 = Math.Clamp(box.Y1, 0, Height),
        X2 = Math.Clamp(box.X2, 0, Width),
        Y2 = Math.Clamp(box.Y2, 0, Height),
    };

    private static float Gaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}

/// <summary>
/// CLEAR-MOT identity figures. Each frame, the truth boxes and the tracker's confirmed boxes are paired one to one
/// (last frame's pairs first while their IoU is still at least 0.5, then the Hungarian method at IoU 0.5, same class). An identity switch is a truth object paired with a different track
/// than at its previous pairing; a fragmentation is a truth object paired again after frames in which it was in view
/// and not paired (each interruption of its track counts once).
/// </summary>
internal sealed class IdentityCount
{
    private readonly Dictionary<int, long> _lastTrack = [];
    private readonly HashSet<int> _interrupted = [];
    private readonly LinearAssignment _assignment = new();

    public int IdentitySwitches { get; private set; }

    public int Fragmentations { get; private set; }

    public int Pairs { get; private set; }

    public int Misses { get; private set; }

    public int FalseTracks { get; private set; }

    public int TruthBoxes => Pairs + Misses;

    public void Add(IReadOnlyList<(int Id, Detection Box)> truth, IReadOnlyList<TrackedObject> tracks)
    {
        var confirmed = tracks.Where(track => track.IsConfirmed).ToList();
        var pairOf = new int[truth.Count];
        Array.Fill(pairOf, -1);
        var used = new HashSet<int>();

        // CLEAR-MOT keeps last frame's pairs that still overlap enough before pairing the rest: two objects side by
        // side could otherwise trade tracks in the count without the tracker doing anything wrong.
        for (var t = 0; t < truth.Count; t++)
        {
            if (_lastTrack.TryGetValue(truth[t].Id, out var previous))
            {
                var h = confirmed.FindIndex(track => track.TrackId == previous);
                if (h >= 0 && !used.Contains(h) && confirmed[h].ClassId == truth[t].Box.ClassId
                    && SyntheticTrajectories.Iou(truth[t].Box, confirmed[h].ToDetection()) >= 0.5f)
                {
                    pairOf[t] = h;
                    used.Add(h);
                }
            }
        }

        var rows = Enumerable.Range(0, truth.Count).Where(t => pairOf[t] < 0).ToList();
        var columns = Enumerable.Range(0, confirmed.Count).Where(h => !used.Contains(h)).ToList();
        var costs = new double[rows.Count * columns.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            for (var c = 0; c < columns.Count; c++)
            {
                var hypothesis = confirmed[columns[c]].ToDetection();
                var box = truth[rows[r]].Box;
                costs[r * columns.Count + c] = hypothesis.ClassId == box.ClassId ? 1 - SyntheticTrajectories.Iou(box, hypothesis) : double.PositiveInfinity;
            }
        }

        var columnOfRow = new int[rows.Count];
        _assignment.Solve(costs, rows.Count, columns.Count, 0.5, columnOfRow);
        for (var r = 0; r < rows.Count; r++)
        {
            if (columnOfRow[r] >= 0)
            {
                pairOf[rows[r]] = columns[columnOfRow[r]];
                used.Add(columns[columnOfRow[r]]);
            }
        }

        for (var t = 0; t < truth.Count; t++)
        {
            var id = truth[t].Id;
            if (pairOf[t] < 0)
            {
                Misses++;
                if (_lastTrack.ContainsKey(id))
                {
                    _interrupted.Add(id);
                }

                continue;
            }

            Pairs++;
            var track = confirmed[pairOf[t]].TrackId;
            if (_lastTrack.TryGetValue(id, out var previous) && previous != track)
            {
                IdentitySwitches++;
            }

            if (_interrupted.Remove(id))
            {
                Fragmentations++;
            }

            _lastTrack[id] = track;
        }

        FalseTracks += confirmed.Count - used.Count;
    }

    public override string ToString() =>
        $"{IdentitySwitches} switches, {Fragmentations} fragmentations, {Pairs}/{TruthBoxes} truth boxes tracked, {FalseTracks} unmatched track boxes";
}
