namespace YoloFleet.Inference.Scene;

/// <summary>
/// Turns the tracker's frames and the zone monitor's findings into object events: <see cref="ObjectEventKind.Started"/>
/// when a track is confirmed, <see cref="ObjectEventKind.Updated"/> at most every
/// <see cref="ObjectEventOptions.UpdateInterval"/> while something changed, <see cref="ObjectEventKind.Ended"/> when it
/// ends. It also picks each object's best picture: the best-scoring detection whose box does not touch the frame's edge
/// (a box at the edge shows only part of its object), else the best-scoring one, and asks the caller to crop it from
/// the current frame (<see cref="CropRequest"/>) so that no frame has to be kept. Not thread-safe.
/// </summary>
public sealed class ObjectEventBuilder
{
    private readonly ObjectEventOptions _options;
    private readonly Dictionary<long, ObjectSummary> _objects = [];

    public ObjectEventBuilder(ObjectEventOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Objects being followed (started, not ended).</summary>
    public int Count => _objects.Count;

    /// <summary>
    /// Takes one frame's tracks and zone findings; appends the events it makes to <paramref name="events"/> and the
    /// pictures to cut from this frame to <paramref name="crops"/>.
    /// </summary>
    public void Update(
        long frameIndex, DateTimeOffset timestamp, int frameWidth, int frameHeight, TrackerUpdate tracks, ZoneUpdate zones,
        List<ObjectEvent> events, List<CropRequest> crops)
    {
        ArgumentNullException.ThrowIfNull(tracks);
        ArgumentNullException.ThrowIfNull(zones);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(crops);

        foreach (var confirmed in tracks.Confirmed)
        {
            _objects[confirmed.TrackId] = new ObjectSummary(confirmed);
        }

        foreach (var item in tracks.Visible)
        {
            if (!_objects.TryGetValue(item.TrackId, out var summary))
            {
                continue;
            }

            summary.LastSeen = item.LastSeen;
            if (item.IsDetected)
            {
                summary.BestScore = Math.Max(summary.BestScore, item.Score);
                if (BetterPicture(summary.BestCrop, item, frameWidth, frameHeight))
                {
                    var box = PixelRect.Covering(item.X1, item.Y1, item.X2, item.Y2).ClampTo(frameWidth, frameHeight);
                    if (!box.IsEmpty)
                    {
                        summary.BestCrop = new BestCrop(frameIndex, timestamp, box, item.Score);
                        summary.BestCropAtEdge = TouchesEdge(item, frameWidth, frameHeight);
                        summary.Changed = true;
                        crops.Add(new CropRequest(item.TrackId, summary.BestCrop.Value));
                    }
                }
            }
        }

        foreach (var zoneEvent in zones.ZoneEvents)
        {
            if (!_objects.TryGetValue(zoneEvent.TrackId, out var summary))
            {
                continue;
            }

            if (zoneEvent.Transition == ZoneTransition.Entered)
            {
                summary.Zones.Add(new ZoneVisit(zoneEvent.Zone, zoneEvent.At, null));
            }
            else
            {
                var open = summary.Zones.FindLastIndex(visit => visit.Zone == zoneEvent.Zone && visit.Exited is null);
                if (open >= 0)
                {
                    summary.Zones[open] = summary.Zones[open] with { Exited = zoneEvent.At };
                }
            }

            summary.Changed = true;
        }

        foreach (var crossing in zones.Crossings)
        {
            if (_objects.TryGetValue(crossing.TrackId, out var summary))
            {
                summary.Lines.Add(crossing);
                summary.Changed = true;
            }
        }

        foreach (var confirmed in tracks.Confirmed)
        {
            if (_objects.TryGetValue(confirmed.TrackId, out var summary))
            {
                events.Add(summary.Emit(ObjectEventKind.Started, timestamp));
            }
        }

        foreach (var ended in tracks.Ended)
        {
            if (_objects.Remove(ended.TrackId, out var summary))
            {
                summary.LastSeen = ended.LastSeen;
                events.Add(summary.Emit(ObjectEventKind.Ended, timestamp));
            }
        }

        foreach (var summary in _objects.Values)
        {
            if ((summary.Changed || summary.SeenSinceLastEvent) && timestamp - summary.LastEventAt >= _options.UpdateInterval)
            {
                events.Add(summary.Emit(ObjectEventKind.Updated, timestamp));
            }
        }
    }

    private bool BetterPicture(BestCrop? current, in TrackedObject candidate, int frameWidth, int frameHeight)
    {
        if (current is not { } best)
        {
            return true;
        }

        var atEdge = TouchesEdge(candidate, frameWidth, frameHeight);
        var bestAtEdge = _objects.TryGetValue(candidate.TrackId, out var summary) && summary.BestCropAtEdge;
        if (atEdge != bestAtEdge)
        {
            return bestAtEdge;
        }

        return candidate.Score >= best.Score + _options.CropScoreGain;
    }

    private static bool TouchesEdge(in TrackedObject item, int frameWidth, int frameHeight) =>
        item.X1 <= 1f || item.Y1 <= 1f || item.X2 >= frameWidth - 1f || item.Y2 >= frameHeight - 1f;

    private sealed class ObjectSummary(TrackedObject first)
    {
        private DateTimeOffset _lastEventSeen = first.LastSeen;

        public long TrackId { get; } = first.TrackId;

        public int ClassId { get; } = first.ClassId;

        public DateTimeOffset FirstSeen { get; } = first.FirstSeen;

        public DateTimeOffset LastSeen { get; set; } = first.LastSeen;

        public float BestScore { get; set; } = first.Score;

        public BestCrop? BestCrop { get; set; }

        public bool BestCropAtEdge { get; set; }

        public List<ZoneVisit> Zones { get; } = [];

        public List<LineCrossing> Lines { get; } = [];

        public int Revision { get; private set; }

        public DateTimeOffset LastEventAt { get; private set; }

        /// <summary>A zone, line or picture changed since the last event.</summary>
        public bool Changed { get; set; }

        public ObjectEvent Emit(ObjectEventKind kind, DateTimeOffset at)
        {
            var revision = kind == ObjectEventKind.Started ? 0 : ++Revision;
            LastEventAt = at;
            _lastEventSeen = LastSeen;
            Changed = false;
            return new ObjectEvent(kind, TrackId, ClassId, revision, at, FirstSeen, LastSeen, BestScore, BestCrop, [.. Zones], [.. Lines]);
        }

        public bool SeenSinceLastEvent => LastSeen > _lastEventSeen;
    }
}
