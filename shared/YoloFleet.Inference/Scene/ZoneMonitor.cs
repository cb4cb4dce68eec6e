namespace YoloFleet.Inference.Scene;

/// <summary>An object came into a zone or left it.</summary>
public enum ZoneTransition
{
    Entered,
    Exited,
}

/// <summary>Which way an object crossed a <see cref="CountingLine"/>, seen walking along it from From to To.</summary>
public enum CrossingDirection
{
    LeftToRight,
    RightToLeft,
}

/// <summary>A track entered or left a zone.</summary>
/// <param name="Dwell">For an exit, the time since the entry; zero for an entry.</param>
/// <param name="TrackEnded">An exit because the track ended while inside (at its last sighting), not because it walked out.</param>
public readonly record struct ZoneEvent(
    long TrackId, int ClassId, string Zone, ZoneTransition Transition, DateTimeOffset At, TimeSpan Dwell, bool TrackEnded);

/// <summary>A track crossed a counting line.</summary>
public readonly record struct LineCrossing(long TrackId, int ClassId, string Line, CrossingDirection Direction, DateTimeOffset At);

/// <summary>What one <see cref="ZoneMonitor.Update"/> found; the monitor owns and reuses it.</summary>
public sealed class ZoneUpdate
{
    internal List<ZoneEvent> ZoneEventList { get; } = [];

    internal List<LineCrossing> CrossingList { get; } = [];

    public IReadOnlyList<ZoneEvent> ZoneEvents => ZoneEventList;

    public IReadOnlyList<LineCrossing> Crossings => CrossingList;
}

/// <summary>
/// Zone entries and exits (with dwell time) and line crossings (with direction) per confirmed track, from each frame's
/// tracked boxes. A box stands for its object by one anchor point (<see cref="ZoneOptions.Anchor"/>); zones and lines
/// have a hysteresis in pixels, so that a box jittering on a border does not count. A track that ends while inside a
/// zone leaves it at its last sighting. Lost tracks (not in the frame's visible list) keep their state. Not
/// thread-safe.
/// </summary>
public sealed class ZoneMonitor
{
    private readonly ZoneOptions _options;
    private readonly SceneZone[] _zones;
    private readonly CountingLine[] _lines;
    private readonly Dictionary<long, TrackPlaces> _tracks = [];
    private readonly ZoneUpdate _update = new();

    public ZoneMonitor(ZoneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _zones = [.. options.Zones];
        _lines = [.. options.Lines];
    }

    public bool IsEmpty => _zones.Length == 0 && _lines.Length == 0;

    /// <summary>How many confirmed tracks are inside the named zone now.</summary>
    public int Occupancy(string zone)
    {
        var index = Array.FindIndex(_zones, candidate => candidate.Name == zone);
        if (index < 0)
        {
            throw new ArgumentException($"There is no zone named '{zone}'.", nameof(zone));
        }

        var count = 0;
        foreach (var places in _tracks.Values)
        {
            count += places.Inside[index] ? 1 : 0;
        }

        return count;
    }

    /// <summary>Checks one frame: the tracker's visible objects (only confirmed ones count) and the tracks that ended.</summary>
    public ZoneUpdate Update(DateTimeOffset timestamp, IReadOnlyList<TrackedObject> visible, IReadOnlyList<TrackedObject> ended)
    {
        ArgumentNullException.ThrowIfNull(visible);
        ArgumentNullException.ThrowIfNull(ended);
        _update.ZoneEventList.Clear();
        _update.CrossingList.Clear();
        if (IsEmpty)
        {
            return _update;
        }

        foreach (var item in visible)
        {
            if (!item.IsConfirmed)
            {
                continue;
            }

            var anchor = AnchorOf(item);
            if (!_tracks.TryGetValue(item.TrackId, out var places))
            {
                places = new TrackPlaces(_zones.Length, _lines.Length);
                _tracks.Add(item.TrackId, places);
            }

            CheckZones(item, anchor, places, timestamp);
            CheckLines(item, anchor, places, timestamp);
        }

        foreach (var item in ended)
        {
            if (!_tracks.Remove(item.TrackId, out var places))
            {
                continue;
            }

            for (var z = 0; z < _zones.Length; z++)
            {
                if (places.Inside[z])
                {
                    var at = item.LastSeen > places.EnteredAt[z] ? item.LastSeen : places.EnteredAt[z];
                    _update.ZoneEventList.Add(new ZoneEvent(item.TrackId, item.ClassId, _zones[z].Name, ZoneTransition.Exited, at, at - places.EnteredAt[z], TrackEnded: true));
                }
            }
        }

        return _update;
    }

    private FramePoint AnchorOf(in TrackedObject item) => _options.Anchor == BoxAnchor.BottomCenter
        ? new FramePoint((item.X1 + item.X2) / 2, item.Y2)
        : new FramePoint((item.X1 + item.X2) / 2, (item.Y1 + item.Y2) / 2);

    private void CheckZones(in TrackedObject item, FramePoint anchor, TrackPlaces places, DateTimeOffset timestamp)
    {
        for (var z = 0; z < _zones.Length; z++)
        {
            var zone = _zones[z];
            var distance = zone.Polygon.SignedDistance(anchor);
            bool entered;
            if (!places.Seen[z])
            {
                // First sighting: inside is inside, without hysteresis (an object can appear in the middle of a zone).
                places.Seen[z] = true;
                entered = distance > 0;
            }
            else
            {
                entered = !places.Inside[z] && distance >= zone.HysteresisPixels && distance > 0;
                if (places.Inside[z] && -distance >= zone.HysteresisPixels && distance < 0)
                {
                    places.Inside[z] = false;
                    _update.ZoneEventList.Add(new ZoneEvent(item.TrackId, item.ClassId, zone.Name, ZoneTransition.Exited, timestamp, timestamp - places.EnteredAt[z], TrackEnded: false));
                }
            }

            if (entered)
            {
                places.Inside[z] = true;
                places.EnteredAt[z] = timestamp;
                _update.ZoneEventList.Add(new ZoneEvent(item.TrackId, item.ClassId, zone.Name, ZoneTransition.Entered, timestamp, TimeSpan.Zero, TrackEnded: false));
            }
        }
    }

    private void CheckLines(in TrackedObject item, FramePoint anchor, TrackPlaces places, DateTimeOffset timestamp)
    {
        for (var l = 0; l < _lines.Length; l++)
        {
            var line = _lines[l];
            var distance = SignedDistance(line, anchor);
            if (MathF.Abs(distance) < line.HysteresisPixels || distance == 0f)
            {
                continue;
            }

            var side = distance > 0 ? 1 : -1;
            var previousSide = places.Side[l];
            if (previousSide != 0 && side != previousSide && CrossesWithinSegment(line, places.SidePoint[l], places.SideDistance[l], anchor, distance))
            {
                var direction = previousSide < 0 ? CrossingDirection.LeftToRight : CrossingDirection.RightToLeft;
                _update.CrossingList.Add(new LineCrossing(item.TrackId, item.ClassId, line.Name, direction, timestamp));
            }

            places.Side[l] = (sbyte)side;
            places.SidePoint[l] = anchor;
            places.SideDistance[l] = distance;
        }
    }

    /// <summary>
    /// The distance of a point from the line, positive on the right-hand side seen walking from From to To on the
    /// image (image y points down, so this is the sign of the cross product (To - From) x (point - From)).
    /// </summary>
    private static float SignedDistance(CountingLine line, FramePoint point)
    {
        var (dx, dy) = (line.To.X - line.From.X, line.To.Y - line.From.Y);
        var cross = dx * (point.Y - line.From.Y) - dy * (point.X - line.From.X);
        return cross / MathF.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>Whether the path from one side to the other met the line between its end points, not beyond them.</summary>
    private static bool CrossesWithinSegment(CountingLine line, FramePoint from, float fromDistance, FramePoint to, float toDistance)
    {
        var share = fromDistance / (fromDistance - toDistance);
        var crossing = new FramePoint(from.X + share * (to.X - from.X), from.Y + share * (to.Y - from.Y));
        var (dx, dy) = (line.To.X - line.From.X, line.To.Y - line.From.Y);
        var along = ((crossing.X - line.From.X) * dx + (crossing.Y - line.From.Y) * dy) / (dx * dx + dy * dy);
        return along is >= 0f and <= 1f;
    }

    private sealed class TrackPlaces(int zones, int lines)
    {
        public bool[] Seen { get; } = new bool[zones];

        public bool[] Inside { get; } = new bool[zones];

        public DateTimeOffset[] EnteredAt { get; } = new DateTimeOffset[zones];

        public sbyte[] Side { get; } = new sbyte[lines];

        public FramePoint[] SidePoint { get; } = new FramePoint[lines];

        public float[] SideDistance { get; } = new float[lines];
    }
}
