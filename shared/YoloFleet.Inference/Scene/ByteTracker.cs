namespace YoloFleet.Inference.Scene;

/// <summary>
/// A ByteTrack multi-object tracker: a Kalman filter predicts each track's box; high-score detections are matched to
/// all tracks (followed and lost) by IoU with the Hungarian method; low-score detections are then matched to the
/// followed tracks left over (ByteTrack's second association, which keeps a track through a partial occlusion that
/// drops its score); new tracks start from the high detections left and are confirmed after
/// <see cref="TrackerOptions.ConfirmHits"/> matches; lost tracks end after <see cref="TrackerOptions.MaxLostSeconds"/>.
/// Tracks never change class: a detection is matched only to a track of its class.
/// </summary>
/// <remarks>
/// Two additions for a gated scene, where the detector does not see every frame or every part of it:
/// <list type="bullet">
/// <item>a step says which parts of the frame were observed (the regions the detector ran on). A track whose predicted
/// box is not wholly inside one is not looked for, so it cannot be lost there: it is carried by its motion model;</item>
/// <item>a carried track that stands still (<see cref="TrackerOptions.MovingHeightsPerSecond"/>) is held in place, not
/// extrapolated: a velocity estimated from a standing person's jittery boxes would otherwise walk the box away over the
/// seconds between keep-alive detections.</item>
/// </list>
/// Not thread-safe: one tracker per camera.
/// </remarks>
public sealed class ByteTracker
{
    private readonly TrackerOptions _options;
    private readonly List<Track> _tracks = [];
    private readonly TrackerUpdate _update = new();
    private readonly LinearAssignment _assignment = new();

    // Scratch reused between steps.
    private readonly List<Track> _rows = [];
    private readonly List<int> _columns = [];
    private readonly List<int> _high = [];
    private readonly List<int> _low = [];
    private double[] _costs = new double[256];
    private int[] _columnOfRow = new int[64];
    private bool[] _detectionUsed = new bool[64];

    private long _nextId = 1;
    private DateTimeOffset? _lastTimestamp;
    private double _frameSeconds = 0.1;

    public ByteTracker(TrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    public TrackerOptions Options => _options;

    /// <summary>Tracks alive (tentative, followed or lost).</summary>
    public int Count => _tracks.Count;

    /// <summary>
    /// Advances one frame. <paramref name="observed"/> lists the parts of the frame the detector looked at (one
    /// rectangle covering the frame for a whole-frame detection); empty, nothing was looked at and every track is
    /// carried by its motion model, whatever <paramref name="detections"/> holds. Detections are in frame pixels.
    /// </summary>
    public TrackerUpdate Step(
        DateTimeOffset timestamp, int frameWidth, int frameHeight, ReadOnlySpan<Detection> detections, ReadOnlySpan<PixelRect> observed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameHeight, 1);
        _update.Clear();
        if (_lastTimestamp is { } last && timestamp > last)
        {
            // The frame interval, smoothed: velocities are per frame, speeds in the options per second.
            var seconds = (timestamp - last).TotalSeconds;
            _frameSeconds += 0.2 * (Math.Min(seconds, 5) - _frameSeconds);
        }

        _lastTimestamp = timestamp;
        var frame = new PixelRect(0, 0, frameWidth, frameHeight);
        Predict(frame, observed);

        if (observed.Length > 0)
        {
            _update.Observed = true;
            Associate(timestamp, detections);
        }

        EndTracks(timestamp, frame);
        Report(timestamp, frame);
        return _update;
    }

    /// <summary>Ends every track (the camera stops, the agent shuts down): confirmed ones are reported in <see cref="TrackerUpdate.Ended"/>.</summary>
    public TrackerUpdate EndAll()
    {
        _update.Clear();
        foreach (var track in _tracks)
        {
            if (track.Status != TrackStatus.Tentative)
            {
                _update.EndedList.Add(track.Snapshot(isDetected: false));
            }
        }

        _tracks.Clear();
        return _update;
    }

    /// <summary>The tracks alive now, at their current boxes (for planning the next frame's regions).</summary>
    public void CopyTracks(List<TrackedObject> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        foreach (var track in _tracks)
        {
            destination.Add(track.Snapshot(isDetected: false));
        }
    }

    /// <summary>
    /// Each live track's box predicted one frame ahead, and whether it is moving, without changing the tracker: what
    /// the scene needs to choose the next frame's regions before the detector runs.
    /// </summary>
    public void PredictNext(List<PredictedTrack> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Span<double> mean = stackalloc double[KalmanBoxFilter.StateSize];
        foreach (var track in _tracks)
        {
            track.Mean.CopyTo(mean);
            var moving = IsMoving(track);
            if (moving)
            {
                for (var i = 0; i < 4; i++)
                {
                    mean[i] += mean[i + 4];
                }
            }

            var (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(mean);
            destination.Add(new PredictedTrack(track.Id, track.ClassId, x1, y1, x2, y2, moving, track.Status));
        }
    }

    private void Predict(PixelRect frame, ReadOnlySpan<PixelRect> observed)
    {
        Span<double> position = stackalloc double[4];
        foreach (var track in _tracks)
        {
            track.MatchedThisFrame = false;
            var moving = IsMoving(track);
            track.Mean.AsSpan(0, 4).CopyTo(position);
            KalmanBoxFilter.Predict(track.Mean, track.Covariance);
            track.IsObserved = IsInside(track, frame, observed);
            if (!track.IsObserved && !moving)
            {
                position.CopyTo(track.Mean);
            }
        }
    }

    private void Associate(DateTimeOffset timestamp, ReadOnlySpan<Detection> detections)
    {
        _high.Clear();
        _low.Clear();
        for (var i = 0; i < detections.Length; i++)
        {
            var score = detections[i].Score;
            if (score >= _options.HighScore)
            {
                _high.Add(i);
            }
            else if (score >= _options.LowScore)
            {
                _low.Add(i);
            }
        }

        if (_detectionUsed.Length < detections.Length)
        {
            _detectionUsed = new bool[detections.Length * 2];
        }

        _detectionUsed.AsSpan(0, detections.Length).Clear();

        // 1. High detections against every confirmed track looked for, followed or lost.
        _rows.Clear();
        foreach (var track in _tracks)
        {
            if (track.IsObserved && track.Status != TrackStatus.Tentative)
            {
                _rows.Add(track);
            }
        }

        Match(_rows, detections, _high, _options.MatchIou, timestamp);

        // 2. Low detections against the followed tracks still unmatched.
        _rows.RemoveAll(static track => track.MatchedThisFrame || track.Status != TrackStatus.Tracked);
        Match(_rows, detections, _low, _options.LowScoreMatchIou, timestamp);
        foreach (var track in _rows)
        {
            if (!track.MatchedThisFrame)
            {
                track.Status = TrackStatus.Lost;
            }
        }

        // 3. Unconfirmed tracks against the high detections left; those left unmatched were a one-off.
        _rows.Clear();
        foreach (var track in _tracks)
        {
            if (track.IsObserved && track.Status == TrackStatus.Tentative)
            {
                _rows.Add(track);
            }
        }

        for (var i = _high.Count - 1; i >= 0; i--)
        {
            if (_detectionUsed[_high[i]])
            {
                _high.RemoveAt(i);
            }
        }

        Match(_rows, detections, _high, _options.TentativeMatchIou, timestamp);
        foreach (var track in _rows)
        {
            if (!track.MatchedThisFrame)
            {
                track.Removed = true;
            }
        }

        // 4. New tracks from the high detections nobody claimed.
        Span<double> measurement = stackalloc double[4];
        foreach (var index in _high)
        {
            var detection = detections[index];
            if (_detectionUsed[index] || detection.Score < _options.NewTrackScore || detection.Width <= 0 || detection.Height <= 0)
            {
                continue;
            }

            var track = new Track(_nextId++, detection.ClassId, timestamp);
            KalmanBoxFilter.ToMeasurement(detection.X1, detection.Y1, detection.X2, detection.Y2, measurement);
            KalmanBoxFilter.Initiate(measurement, track.Mean, track.Covariance);
            track.Record(detection, timestamp);
            track.IsObserved = true;
            if (track.Hits >= _options.ConfirmHits)
            {
                track.Status = TrackStatus.Tracked;
                track.JustConfirmed = true;
            }

            _tracks.Add(track);
        }
    }

    /// <summary>Optimal one-to-one matching of <paramref name="tracks"/> to the listed detections by IoU, same class only.</summary>
    private void Match(List<Track> tracks, ReadOnlySpan<Detection> detections, List<int> candidates, float minimumIou, DateTimeOffset timestamp)
    {
        var rows = tracks.Count;
        _columns.Clear();
        foreach (var index in candidates)
        {
            if (!_detectionUsed[index])
            {
                _columns.Add(index);
            }
        }

        var columns = _columns.Count;
        if (rows == 0 || columns == 0)
        {
            return;
        }

        if (_costs.Length < rows * columns)
        {
            _costs = new double[rows * columns * 2];
        }

        if (_columnOfRow.Length < rows)
        {
            _columnOfRow = new int[rows * 2];
        }

        var costs = _costs.AsSpan(0, rows * columns);
        for (var r = 0; r < rows; r++)
        {
            var track = tracks[r];
            var (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(track.Mean);
            for (var c = 0; c < columns; c++)
            {
                var detection = detections[_columns[c]];
                costs[r * columns + c] = detection.ClassId == track.ClassId
                    ? 1.0 - IntersectionOverUnion(x1, y1, x2, y2, detection)
                    : double.PositiveInfinity;
            }
        }

        var columnOfRow = _columnOfRow.AsSpan(0, rows);
        _assignment.Solve(costs, rows, columns, 1.0 - minimumIou, columnOfRow);

        Span<double> measurement = stackalloc double[4];
        for (var r = 0; r < rows; r++)
        {
            if (columnOfRow[r] < 0)
            {
                continue;
            }

            var index = _columns[columnOfRow[r]];
            var detection = detections[index];
            var track = tracks[r];
            KalmanBoxFilter.ToMeasurement(detection.X1, detection.Y1, detection.X2, detection.Y2, measurement);
            KalmanBoxFilter.Update(track.Mean, track.Covariance, measurement);
            track.Record(detection, timestamp);
            if (track.Status == TrackStatus.Tentative)
            {
                if (track.Hits >= _options.ConfirmHits)
                {
                    track.Status = TrackStatus.Tracked;
                    track.JustConfirmed = true;
                }
            }
            else
            {
                track.Status = TrackStatus.Tracked;
            }

            _detectionUsed[index] = true;
        }
    }

    private void EndTracks(DateTimeOffset timestamp, PixelRect frame)
    {
        foreach (var track in _tracks)
        {
            if (track.Removed)
            {
                continue;
            }

            // Predicted out of the frame: it left.
            var (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(track.Mean);
            var (centreX, centreY) = ((x1 + x2) / 2, (y1 + y2) / 2);
            if (!frame.Contains(centreX, centreY) && !track.MatchedThisFrame)
            {
                if (track.Status == TrackStatus.Tentative)
                {
                    track.Removed = true;
                    continue;
                }

                track.Status = TrackStatus.Lost;
            }

            // A lost track, or an unconfirmed one that was never looked for again, is given up after MaxLostSeconds.
            if (track.Status != TrackStatus.Tracked && (timestamp - track.LastSeen).TotalSeconds > _options.MaxLostSeconds)
            {
                track.Removed = true;
            }
        }

        foreach (var track in _tracks)
        {
            if (track.Removed && track.Status != TrackStatus.Tentative)
            {
                _update.EndedList.Add(track.Snapshot(isDetected: false));
            }
        }

        _tracks.RemoveAll(static track => track.Removed);
    }

    private void Report(DateTimeOffset timestamp, PixelRect frame)
    {
        foreach (var track in _tracks)
        {
            if (track.MatchedThisFrame || track.Status == TrackStatus.Tracked || IsCoasting(track, timestamp, frame))
            {
                var snapshot = track.Snapshot(track.MatchedThisFrame);
                if (!snapshot.IsDetected)
                {
                    // A predicted box is the whole object; what the frame shows of it stops at the frame's edge, as a detection does.
                    snapshot = snapshot with
                    {
                        X1 = Math.Clamp(snapshot.X1, 0, frame.Right),
                        Y1 = Math.Clamp(snapshot.Y1, 0, frame.Bottom),
                        X2 = Math.Clamp(snapshot.X2, 0, frame.Right),
                        Y2 = Math.Clamp(snapshot.Y2, 0, frame.Bottom),
                    };
                }

                _update.VisibleList.Add(snapshot);
                if (track.JustConfirmed)
                {
                    _update.ConfirmedList.Add(snapshot);
                    track.JustConfirmed = false;
                }
            }
        }
    }

    /// <summary>Lost a moment ago and predicted inside the frame: still reported at its predicted box.</summary>
    private bool IsCoasting(Track track, DateTimeOffset timestamp, PixelRect frame)
    {
        if (track.Status != TrackStatus.Lost || (timestamp - track.LastSeen).TotalSeconds > _options.CoastSeconds)
        {
            return false;
        }

        var (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(track.Mean);
        return frame.Contains((x1 + x2) / 2, (y1 + y2) / 2);
    }

    private bool IsMoving(Track track)
    {
        var speed = Math.Sqrt(track.Mean[4] * track.Mean[4] + track.Mean[5] * track.Mean[5]) / Math.Max(1e-3, _frameSeconds);
        return speed >= _options.MovingHeightsPerSecond * Math.Max(1.0, track.Mean[3]);
    }

    /// <summary>Whether the track's predicted box, clipped to the frame, lies wholly inside one observed rectangle.</summary>
    private static bool IsInside(Track track, PixelRect frame, ReadOnlySpan<PixelRect> observed)
    {
        var (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(track.Mean);
        x1 = Math.Clamp(x1, frame.X, frame.Right);
        x2 = Math.Clamp(x2, frame.X, frame.Right);
        y1 = Math.Clamp(y1, frame.Y, frame.Bottom);
        y2 = Math.Clamp(y2, frame.Y, frame.Bottom);
        foreach (var region in observed)
        {
            if (region.Contains(x1, y1) && region.Contains(x2, y2))
            {
                return true;
            }
        }

        return false;
    }

    private static float IntersectionOverUnion(float x1, float y1, float x2, float y2, in Detection detection)
    {
        var width = MathF.Min(x2, detection.X2) - MathF.Max(x1, detection.X1);
        var height = MathF.Min(y2, detection.Y2) - MathF.Max(y1, detection.Y1);
        if (width <= 0f || height <= 0f)
        {
            return 0f;
        }

        var intersection = width * height;
        var union = (x2 - x1) * (y2 - y1) + detection.Area - intersection;
        return union > 0f ? intersection / union : 0f;
    }

    private sealed class Track(long id, int classId, DateTimeOffset firstSeen)
    {
        public long Id { get; } = id;

        public int ClassId { get; } = classId;

        public double[] Mean { get; } = new double[KalmanBoxFilter.StateSize];

        public double[] Covariance { get; } = new double[KalmanBoxFilter.StateSize * KalmanBoxFilter.StateSize];

        public TrackStatus Status { get; set; } = TrackStatus.Tentative;

        public DateTimeOffset FirstSeen { get; } = firstSeen;

        public DateTimeOffset LastSeen { get; private set; } = firstSeen;

        public Detection LastDetection { get; private set; }

        public int Hits { get; private set; }

        public bool MatchedThisFrame { get; set; }

        public bool IsObserved { get; set; }

        public bool JustConfirmed { get; set; }

        public bool Removed { get; set; }

        public void Record(Detection detection, DateTimeOffset timestamp)
        {
            LastDetection = detection;
            LastSeen = timestamp;
            Hits++;
            MatchedThisFrame = true;
        }

        public TrackedObject Snapshot(bool isDetected)
        {
            float x1, y1, x2, y2;
            if (isDetected)
            {
                (x1, y1, x2, y2) = (LastDetection.X1, LastDetection.Y1, LastDetection.X2, LastDetection.Y2);
            }
            else
            {
                (x1, y1, x2, y2) = KalmanBoxFilter.ToBox(Mean);
            }

            return new TrackedObject(Id, ClassId, LastDetection.Score, x1, y1, x2, y2, Status, isDetected, FirstSeen, LastSeen);
        }
    }
}

/// <summary>A live track's box predicted for the next frame (see <see cref="ByteTracker.PredictNext"/>).</summary>
public readonly record struct PredictedTrack(long TrackId, int ClassId, float X1, float Y1, float X2, float Y2, bool IsMoving, TrackStatus Status);
