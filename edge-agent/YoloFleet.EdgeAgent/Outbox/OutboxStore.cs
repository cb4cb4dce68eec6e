using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>A message waiting in the outbox.</summary>
public sealed record OutboxMessage(ulong Sequence, string Kind, DateTimeOffset EnqueuedAt, byte[] Payload);

/// <summary>
/// Sequence numbers the device gave up on, and why (<see cref="DeliveryDropReasons"/>): what a <c>DeliveryReported</c>
/// tells the cloud. <paramref name="Messages"/> is how many messages the range held (a range may span unused numbers).
/// </summary>
public sealed record OutboxDrop(ulong First, ulong Last, string Reason, ulong Messages);

/// <summary>
/// The agent's durable store-and-forward queue: every upstream message is appended here first and removed only once it
/// is settled: confirmed by the cloud (stored or refused for good; with <see cref="ConfirmationMode.Broker"/>, the
/// broker's PUBACK) or dropped and reported (the disk budget, the age limit, a permanent refusal). Nothing is lost while
/// the broker or the cloud cannot be reached, across restarts, or when the process or the broker is killed.
/// </summary>
/// <remarks>
/// <para>Layout: append-only segment files <c>{first sequence:D20}.seg</c> of records
/// <c>[u32 payload length][u32 CRC-32 of the rest][u64 sequence][i64 enqueued unix ms][u8 kind length][kind][payload]</c>,
/// plus a small <c>acked</c> file holding the floor: every message at or below it is settled. A torn record at the end
/// of the last segment (a crash mid-write) is cut off at open. The floor is written lazily: losing its latest value only
/// causes messages to be sent again, which the cloud de-duplicates by sequence.</para>
/// <para>Confirmations can arrive out of order (several silos): settled numbers above the floor are kept in memory and
/// the floor rises as the settled run from it grows; a segment is deleted once the floor passes its end. A broker's PUBACK
/// only moves the send cursor and starts the message's confirmation timer: a message still unconfirmed after
/// <see cref="DeliveryOptions.ConfirmTimeout"/> is due again (<see cref="TakeDue"/>), each further time after twice as long
/// while no confirmation arrives, up to <see cref="DeliveryOptions.MaxResendInterval"/>. That state is in memory too: after
/// a restart everything above the floor is sent again. Thread-safe.</para>
/// </remarks>
public sealed class OutboxStore : IDisposable
{
    private const string SegmentExtension = ".seg";
    private const int HeaderBytes = 4 + 4 + 8 + 8 + 1;

    /// <summary>A resend request larger than this is cut: a cloud asks for gaps it saw, never for millions of numbers.</summary>
    private const ulong MaxResendSpan = 1_000_000;
    private static readonly TimeSpan AckedWriteInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>Kinds kept per message in memory (one byte each), so a refusal can tell a delivery report from data.</summary>
    private static readonly string[] KnownKinds = [Topics.DetectionsKind, Topics.HardFramesKind, Topics.TelemetryKind, Topics.AckKind, Topics.DeliveryKind, Topics.ObjectEventsKind, Topics.ShadowKind];

    private readonly string _directory;
    private readonly OutboxOptions _options;
    private readonly DeliveryOptions _delivery;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<Segment> _segments = [];
    private FileStream? _writer;
    private long _lastFsync;
    private ulong _acked;
    private ulong _ackedPersisted;
    private long _lastAckedWrite;
    private long _pending;
    private long _evicted;
    private long _corrupt;
    private ulong _highestAppended;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Settled numbers above the floor (confirmations out of order); only held messages.
    private readonly SequenceRangeSet _settled = new();

    // Published (PUBACK seen) and not yet settled: when, how often re-sent, in which confirmation epoch.
    private readonly Dictionary<ulong, Awaiting> _awaiting = [];

    // Asked for again by the cloud: sent before anything else.
    private readonly SortedSet<ulong> _requested = [];
    private readonly List<OutboxDrop> _drops = [];
    private ulong _published;
    private long _epoch;
    private long _nextDueAt;

    // The read cursor: the next record to hand to the publisher.
    private Segment? _readSegment;
    private int _readIndex;
    private FileStream? _reader;
    private FileStream? _randomReader;

    public OutboxStore(string directory, OutboxOptions options, TimeProvider time, DeliveryOptions? delivery = null)
    {
        _directory = directory;
        _options = options;
        _delivery = delivery ?? new DeliveryOptions();
        _time = time;
        Directory.CreateDirectory(directory);
        _acked = ReadAcked();
        _ackedPersisted = _acked;
        _published = _acked;
        _highestAppended = _acked;
        Load();
        Rewind();
    }

    /// <summary>Messages appended and not yet settled (confirmed, or dropped and reported).</summary>
    public long Depth => Interlocked.Read(ref _pending);

    /// <summary>The highest sequence number this outbox holds or has settled: new messages must be numbered above it.</summary>
    public ulong HighestSequence
    {
        get
        {
            lock (_gate)
            {
                return _highestAppended;
            }
        }
    }

    /// <summary>Messages dropped unconfirmed because the outbox was full or they were too old (each reported).</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>Records found damaged at open and skipped.</summary>
    public long Corrupt => Interlocked.Read(ref _corrupt);

    /// <summary>Messages the broker took (PUBACK) that the cloud has not confirmed yet.</summary>
    public int Unconfirmed
    {
        get
        {
            lock (_gate)
            {
                return _awaiting.Count;
            }
        }
    }

    public long BytesOnDisk
    {
        get
        {
            lock (_gate)
            {
                return _segments.Sum(s => s.Bytes);
            }
        }
    }

    /// <summary>The floor: the highest sequence at or below which every message is settled.</summary>
    public ulong Acknowledged
    {
        get
        {
            lock (_gate)
            {
                return _acked;
            }
        }
    }

    /// <summary>Drops waiting to be reported to the cloud.</summary>
    public int PendingDrops
    {
        get
        {
            lock (_gate)
            {
                return _drops.Count;
            }
        }
    }

    /// <summary>Appends one message. Sequences must increase; the caller assigns them.</summary>
    public void Append(ulong sequence, string kind, ReadOnlySpan<byte> payload)
    {
        var kindBytes = Encoding.ASCII.GetBytes(kind);
        if (kindBytes.Length is 0 or > 255)
        {
            throw new ArgumentException("The message kind must be 1-255 ASCII characters.", nameof(kind));
        }

        var record = new byte[HeaderBytes + kindBytes.Length + payload.Length];
        var now = _time.GetUtcNow();
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), sequence);
        BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(16), now.ToUnixTimeMilliseconds());
        record[24] = (byte)kindBytes.Length;
        kindBytes.CopyTo(record.AsSpan(HeaderBytes));
        payload.CopyTo(record.AsSpan(HeaderBytes + kindBytes.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), Crc32.HashToUInt32(record.AsSpan(8)));

        lock (_gate)
        {
            var last = _segments.Count > 0 ? _segments[^1] : null;
            if (last is not null && sequence <= last.LastSequence)
            {
                throw new ArgumentException($"Sequence {sequence} is not above the last one appended ({last.LastSequence}).", nameof(sequence));
            }

            if (sequence <= _acked)
            {
                // It would count as settled and never be sent.
                throw new ArgumentException(
                    $"Sequence {sequence} is not above the outbox's floor {_acked} ({Path.Combine(_directory, "acked")}): the sequence counter went back (its file reset?). Delete the outbox directory with it, or restore the counter.",
                    nameof(sequence));
            }

            if (last is null || _writer is null || (last.Bytes + record.Length > _options.SegmentBytes && last.Count > 0))
            {
                last = StartSegment(sequence);
            }

            _writer!.Write(record);
            _writer.Flush(flushToDisk: false);
            var fsync = _options.Fsync == FsyncPolicy.Always
                || (_options.Fsync == FsyncPolicy.Interval && _time.GetElapsedTime(_lastFsync).TotalMilliseconds >= _options.FsyncIntervalMs);
            if (fsync)
            {
                _writer.Flush(flushToDisk: true);
                _lastFsync = _time.GetTimestamp();
            }

            last.Add(sequence, record.Length, now, KindCode(kind));
            _pending++;
            _highestAppended = sequence;
            if (_readSegment is null)
            {
                MoveReader(last, last.Count - 1);
            }

            EnforceBounds();
            Signal();
        }
    }

    /// <summary>
    /// The next message not yet handed out since the last <see cref="Rewind"/> (skipping settled ones), or null when
    /// there is none.
    /// </summary>
    public OutboxMessage? TryReadNext()
    {
        lock (_gate)
        {
            while (_readSegment is not null)
            {
                if (_readIndex < _readSegment.Count)
                {
                    var index = _readIndex++;
                    var sequence = _readSegment.SequenceAt(index);
                    if (IsSettled(sequence) || sequence <= _published)
                    {
                        continue;
                    }

                    return ReadRecordAt(_readSegment, _readSegment.OffsetAt(index), ref _reader);
                }

                var next = _segments.IndexOf(_readSegment) + 1;
                if (next == 0 || next >= _segments.Count)
                {
                    return null;
                }

                MoveReader(_segments[next], 0);
            }

            return null;
        }
    }

    /// <summary>
    /// Moves the read cursor back to the oldest message neither settled nor taken by the broker (after a reconnect): what
    /// was in flight when the connection dropped goes again; what the broker took waits for its confirmation timer.
    /// </summary>
    public void Rewind()
    {
        lock (_gate)
        {
            var from = Math.Max(_acked, _published);
            var first = _segments.FirstOrDefault(s => s.LastSequence > from);
            MoveReader(first, first?.IndexAbove(from) ?? 0);
        }
    }

    /// <summary>
    /// Settles every message up to <paramref name="sequence"/> (the broker's PUBACK with <see cref="ConfirmationMode.Broker"/>):
    /// segments holding only settled messages are deleted.
    /// </summary>
    public void Acknowledge(ulong sequence)
    {
        lock (_gate)
        {
            if (sequence <= _acked)
            {
                return;
            }

            Settle(_acked + 1, sequence, refused: null);
            AdvanceFloor();
            Signal();
        }
    }

    /// <summary>
    /// Applies the cloud's confirmation of <c>[first, last]</c>: committed, or refused for good (then each held message but
    /// a delivery report is also reported dropped as <c>cloud-refused</c>). Numbers the outbox does not hold are ignored.
    /// Returns how many held messages this settled.
    /// </summary>
    public ulong Confirm(ulong first, ulong last, bool refused = false)
    {
        if (first > last)
        {
            return 0;
        }

        lock (_gate)
        {
            var settled = Settle(Math.Max(first, _acked + 1), last, refused ? [] : null);
            if (settled > 0)
            {
                AdvanceFloor();
                Signal();
            }

            return settled;
        }
    }

    /// <summary>Records that the broker took these messages (PUBACK): their confirmation timers start now.</summary>
    public void MarkPublished(IEnumerable<ulong> sequences)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            foreach (var sequence in sequences)
            {
                if (IsSettled(sequence) || !TryLocate(sequence, out _, out _))
                {
                    continue;
                }

                _published = Math.Max(_published, sequence);
                if (_awaiting.TryAdd(sequence, new Awaiting(now, 0, _epoch)))
                {
                    var due = now + TimeoutTicks(0);
                    _nextDueAt = _nextDueAt == 0 ? due : Math.Min(_nextDueAt, due);
                }
            }
        }
    }

    /// <summary>
    /// The cloud asks for <c>[first, last]</c> again: held messages the broker took are due at once; numbers the outbox
    /// does not hold (a crash skipped them, or they are settled) are reported as <c>not-held</c>; held messages not sent
    /// yet simply go in their turn.
    /// </summary>
    public void RequestResend(ulong first, ulong last)
    {
        lock (_gate)
        {
            first = Math.Max(first, 1);
            last = Math.Min(last, _highestAppended);
            if (first > last)
            {
                return;
            }

            if (last - first >= MaxResendSpan)
            {
                last = first + MaxResendSpan - 1;
            }

            var notHeld = new SequenceRangeSet();
            notHeld.Add(first, last);
            foreach (var (segment, index) in Held(Math.Max(first, _acked + 1), last))
            {
                var sequence = segment.SequenceAt(index);
                if (_settled.Contains(sequence))
                {
                    continue;
                }

                notHeld.Remove(sequence, sequence);
                if (_awaiting.ContainsKey(sequence))
                {
                    _requested.Add(sequence);
                }
            }

            foreach (var (from, to) in notHeld.Ranges)
            {
                AddDrop(from, to, DeliveryDropReasons.NotHeld, 0);
            }

            Signal();
        }
    }

    /// <summary>
    /// Messages to send again now, oldest first, at most <paramref name="max"/>: those the cloud asked for, then those
    /// whose confirmation is overdue. Each taken one's timer starts again, and an overdue one waits twice as long next
    /// time unless a confirmation arrives meanwhile.
    /// </summary>
    public List<OutboxMessage> TakeDue(int max)
    {
        lock (_gate)
        {
            var taken = new List<OutboxMessage>();
            if (max <= 0 || (_requested.Count == 0 && _awaiting.Count == 0))
            {
                return taken;
            }

            var now = _time.GetTimestamp();
            var sequences = new List<(ulong Sequence, bool Overdue)>();
            foreach (var sequence in _requested)
            {
                if (sequences.Count == max)
                {
                    break;
                }

                sequences.Add((sequence, false));
            }

            if (sequences.Count < max && (_nextDueAt == 0 || now >= _nextDueAt))
            {
                var overdue = new List<ulong>();
                long next = 0;
                foreach (var (sequence, awaiting) in _awaiting)
                {
                    var due = awaiting.Stamp + TimeoutTicks(Attempts(awaiting));
                    if (due <= now)
                    {
                        if (!_requested.Contains(sequence))
                        {
                            overdue.Add(sequence);
                        }
                    }
                    else
                    {
                        next = next == 0 ? due : Math.Min(next, due);
                    }
                }

                overdue.Sort();
                var room = max - sequences.Count;
                sequences.AddRange(overdue.Take(room).Select(s => (s, true)));
                _nextDueAt = overdue.Count > room ? now : next;
            }

            foreach (var (sequence, overdue) in sequences.OrderBy(s => s.Sequence))
            {
                _requested.Remove(sequence);
                if (!_awaiting.TryGetValue(sequence, out var awaiting) || !TryLocate(sequence, out var segment, out var index))
                {
                    _awaiting.Remove(sequence);
                    continue;
                }

                var attempts = Attempts(awaiting) + (overdue ? 1 : 0);
                _awaiting[sequence] = new Awaiting(now, attempts, _epoch);
                var due = now + TimeoutTicks(attempts);
                _nextDueAt = _nextDueAt == 0 ? due : Math.Min(_nextDueAt, due);
                taken.Add(ReadRecordAt(segment, segment.OffsetAt(index), ref _randomReader));
            }

            return taken;
        }
    }

    /// <summary>How long until a message is due again (zero when one is), or null when none awaits confirmation.</summary>
    public TimeSpan? TimeUntilDue()
    {
        lock (_gate)
        {
            if (_requested.Count > 0)
            {
                return TimeSpan.Zero;
            }

            if (_awaiting.Count == 0)
            {
                return null;
            }

            var now = _time.GetTimestamp();
            var next = long.MaxValue;
            foreach (var awaiting in _awaiting.Values)
            {
                next = Math.Min(next, awaiting.Stamp + TimeoutTicks(Attempts(awaiting)));
            }

            return next <= now ? TimeSpan.Zero : _time.GetElapsedTime(now, next);
        }
    }

    /// <summary>Records numbers given up for <paramref name="reason"/> (a permanent broker refusal), settling those held.</summary>
    public void Drop(ulong first, ulong last, string reason)
    {
        lock (_gate)
        {
            var settled = Settle(Math.Max(first, _acked + 1), last, refused: null);
            AddDrop(first, last, reason, settled);
            AdvanceFloor();
            Signal();
        }
    }

    /// <summary>Takes the drops not yet reported, merged into ranges, oldest first.</summary>
    public List<OutboxDrop> TakeDrops()
    {
        lock (_gate)
        {
            var drops = new List<OutboxDrop>(_drops);
            _drops.Clear();
            return drops;
        }
    }

    /// <summary>Applies the age bound (also called on every append).</summary>
    public void Trim()
    {
        lock (_gate)
        {
            EnforceBounds();
        }
    }

    /// <summary>Completes when something is appended, settled, asked for again or evicted.</summary>
    public Task WaitForChangeAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _changed.Task.WaitAsync(cancellationToken);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_writer is not null)
            {
                _writer.Flush(flushToDisk: _options.Fsync != FsyncPolicy.Never);
                _writer.Dispose();
                _writer = null;
            }

            _reader?.Dispose();
            _reader = null;
            _randomReader?.Dispose();
            _randomReader = null;
            WriteAcked();
        }
    }

    private bool IsSettled(ulong sequence) => sequence <= _acked || _settled.Contains(sequence);

    private int Attempts(Awaiting awaiting) => awaiting.Epoch == _epoch ? awaiting.Attempts : 0;

    private long TimeoutTicks(int attempts)
    {
        var timeout = _delivery.ConfirmTimeout.TotalSeconds * Math.Pow(2, Math.Min(attempts, 30));
        var seconds = Math.Min(timeout, _delivery.MaxResendInterval.TotalSeconds);
        return (long)(seconds * _time.TimestampFrequency);
    }

    /// <summary>
    /// Marks the held, unsettled messages of <c>[first, last]</c> settled; returns how many. With
    /// <paramref name="refused"/> set, refused ones are reported dropped as <c>cloud-refused</c> (but not delivery reports:
    /// a refused report about a refusal would never end).
    /// </summary>
    private ulong Settle(ulong first, ulong last, List<ulong>? refused)
    {
        ulong count = 0;
        var confirmedPublished = false;
        foreach (var (segment, index) in Held(first, last))
        {
            var sequence = segment.SequenceAt(index);
            if (_settled.Contains(sequence))
            {
                continue;
            }

            _settled.Add(sequence);
            _pending--;
            count++;
            _requested.Remove(sequence);
            confirmedPublished |= _awaiting.Remove(sequence);
            if (refused is not null && segment.KindAt(index) != KindCode(Topics.DeliveryKind))
            {
                refused.Add(sequence);
            }
        }

        if (confirmedPublished)
        {
            // Progress: re-sends go back to the first interval.
            _epoch++;
            _nextDueAt = 0;
        }

        if (refused is { Count: > 0 })
        {
            var start = 0;
            for (var i = 1; i <= refused.Count; i++)
            {
                if (i == refused.Count || refused[i] != refused[i - 1] + 1)
                {
                    AddDrop(refused[start], refused[i - 1], DeliveryDropReasons.CloudRefused, (ulong)(i - start));
                    start = i;
                }
            }
        }

        return count;
    }

    /// <summary>Raises the floor over the settled run above it, forgets what it passed and deletes whole segments.</summary>
    private void AdvanceFloor()
    {
        if (_settled.IsEmpty)
        {
            return;
        }

        var floor = _acked;
        foreach (var (segment, index) in Held(_acked + 1, ulong.MaxValue))
        {
            var sequence = segment.SequenceAt(index);
            if (!_settled.Contains(sequence))
            {
                break;
            }

            floor = sequence;
        }

        if (floor == _acked)
        {
            return;
        }

        _acked = floor;
        _settled.RemoveUpTo(floor);
        while (_segments.Count > 1 && _segments[0].LastSequence <= _acked)
        {
            DeleteSegment(_segments[0]);
        }

        if (_time.GetElapsedTime(_lastAckedWrite) >= AckedWriteInterval)
        {
            WriteAcked();
        }
    }

    /// <summary>The held messages with first ≤ sequence ≤ last, in order, as (segment, index).</summary>
    private IEnumerable<(Segment Segment, int Index)> Held(ulong first, ulong last)
    {
        if (first > last)
        {
            yield break;
        }

        for (var s = FirstSegmentEndingAtOrAfter(first); s < _segments.Count; s++)
        {
            var segment = _segments[s];
            if (segment.Count == 0)
            {
                continue;
            }

            if (segment.FirstSequence > last)
            {
                yield break;
            }

            for (var i = segment.IndexAtOrAbove(first); i < segment.Count; i++)
            {
                if (segment.SequenceAt(i) > last)
                {
                    yield break;
                }

                yield return (segment, i);
            }
        }
    }

    private int FirstSegmentEndingAtOrAfter(ulong sequence)
    {
        int low = 0, high = _segments.Count;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (_segments[mid].Count == 0 || _segments[mid].LastSequence < sequence)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    private bool TryLocate(ulong sequence, out Segment segment, out int index)
    {
        var s = FirstSegmentEndingAtOrAfter(sequence);
        if (s < _segments.Count)
        {
            segment = _segments[s];
            index = segment.IndexOf(sequence);
            if (index >= 0)
            {
                return true;
            }
        }

        segment = null!;
        index = -1;
        return false;
    }

    private void AddDrop(ulong first, ulong last, string reason, ulong messages)
    {
        if (_drops.Count > 0 && _drops[^1] is var previous && previous.Reason == reason && previous.Last + 1 == first)
        {
            _drops[^1] = previous with { Last = last, Messages = previous.Messages + messages };
        }
        else
        {
            _drops.Add(new OutboxDrop(first, last, reason, messages));
        }
    }

    private static byte KindCode(string kind)
    {
        var index = Array.IndexOf(KnownKinds, kind);
        return index < 0 ? byte.MaxValue : (byte)index;
    }

    private void Load()
    {
        var files = Directory.GetFiles(_directory, "*" + SegmentExtension).Order(StringComparer.Ordinal).ToArray();
        for (var i = 0; i < files.Length; i++)
        {
            var segment = new Segment(files[i]);
            var isLast = i == files.Length - 1;
            using (var stream = new FileStream(files[i], FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
            {
                long offset = 0;
                while (offset < stream.Length)
                {
                    if (!TryReadRecord(stream, offset, out var message, out var length))
                    {
                        // A torn tail (crash mid-write) on the last segment is expected; elsewhere it is damage.
                        if (!isLast)
                        {
                            _corrupt++;
                        }

                        stream.SetLength(offset);
                        break;
                    }

                    segment.Add(message.Sequence, length, message.EnqueuedAt, KindCode(message.Kind));
                    if (message.Sequence > _acked)
                    {
                        _pending++;
                    }

                    _highestAppended = Math.Max(_highestAppended, message.Sequence);
                    offset += length;
                }
            }

            if (segment.Count == 0 || (segment.LastSequence <= _acked && !isLast))
            {
                File.Delete(files[i]);
                continue;
            }

            _segments.Add(segment);
        }

        if (_segments.Count > 0)
        {
            var last = _segments[^1];
            _writer = new FileStream(last.Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        }
    }

    private Segment StartSegment(ulong firstSequence)
    {
        if (_writer is not null)
        {
            _writer.Flush(flushToDisk: _options.Fsync != FsyncPolicy.Never);
            _writer.Dispose();
        }

        var path = Path.Combine(_directory, firstSequence.ToString("D20", CultureInfo.InvariantCulture) + SegmentExtension);
        _writer = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        var segment = new Segment(path);
        _segments.Add(segment);
        return segment;
    }

    /// <summary>
    /// Evicts the oldest segment while the outbox is over its disk budget or the segment is over the age limit. Its
    /// unsettled messages (sent or not, confirmed or not) are dropped, counted and queued for a <c>DeliveryReported</c>.
    /// </summary>
    private void EnforceBounds()
    {
        var total = _segments.Sum(s => s.Bytes);
        var oldestAllowed = _time.GetUtcNow() - _options.MaxAge;
        var evicted = false;
        while (_segments.Count > 0)
        {
            var oldest = _segments[0];
            var overSize = total > _options.MaxBytes && _segments.Count > 1;
            var tooOld = oldest.NewestEnqueuedAt < oldestAllowed && oldest.Count > 0;
            if (!overSize && !tooOld)
            {
                break;
            }

            var reason = overSize ? DeliveryDropReasons.Budget : DeliveryDropReasons.Age;
            var runStart = 0UL;
            var runLast = 0UL;
            var runMessages = 0UL;
            for (var i = 0; i < oldest.Count; i++)
            {
                var sequence = oldest.SequenceAt(i);
                if (IsSettled(sequence))
                {
                    continue;
                }

                _evicted++;
                _pending--;
                _awaiting.Remove(sequence);
                _requested.Remove(sequence);
                if (oldest.KindAt(i) == KindCode(Topics.DeliveryKind))
                {
                    // A report of earlier drops is itself being dropped: what it said goes into the next one.
                    Requeue(ReadRecordAt(oldest, oldest.OffsetAt(i), ref _randomReader));
                }

                // One range over the unsettled ones; settled ones in between end it (they were delivered).
                if (runMessages > 0 && !HasSettledBetween(oldest, runLast, sequence))
                {
                    runLast = sequence;
                    runMessages++;
                    continue;
                }

                if (runMessages > 0)
                {
                    AddDrop(runStart, runLast, reason, runMessages);
                }

                runStart = runLast = sequence;
                runMessages = 1;
            }

            if (runMessages > 0)
            {
                AddDrop(runStart, runLast, reason, runMessages);
            }

            _acked = Math.Max(_acked, oldest.LastSequence);
            _settled.RemoveUpTo(_acked);
            total -= oldest.Bytes;
            if (oldest == _segments[^1])
            {
                // Everything is too old: drop the active segment too and start afresh on the next append.
                _writer?.Dispose();
                _writer = null;
            }

            DeleteSegment(oldest);
            WriteAcked();
            evicted = true;
        }

        if (evicted)
        {
            AdvanceFloor();
        }
    }

    private void Requeue(OutboxMessage report)
    {
        try
        {
            foreach (var range in DeliveryReported.Parser.ParseFrom(report.Payload).Dropped)
            {
                AddDrop(range.First, range.Last, range.Reason, range.Messages);
            }
        }
        catch (InvalidProtocolBufferException)
        {
            // Not a report after all (the record passed its CRC, so never in practice); its own number is still reported.
        }
    }

    private bool HasSettledBetween(Segment segment, ulong after, ulong before)
    {
        for (var i = segment.IndexAtOrAbove(after + 1); i < segment.Count && segment.SequenceAt(i) < before; i++)
        {
            if (IsSettled(segment.SequenceAt(i)))
            {
                return true;
            }
        }

        return false;
    }

    private void DeleteSegment(Segment segment)
    {
        var index = _segments.IndexOf(segment);
        _segments.RemoveAt(index);
        if (_readSegment == segment)
        {
            MoveReader(index < _segments.Count ? _segments[index] : null, 0);
        }

        if (_randomReader?.Name == segment.FullPath)
        {
            _randomReader.Dispose();
            _randomReader = null;
        }

        File.Delete(segment.Path);
    }

    private void MoveReader(Segment? segment, int index)
    {
        if (_readSegment != segment)
        {
            _reader?.Dispose();
            _reader = null;
        }

        _readSegment = segment;
        _readIndex = index;
    }

    /// <summary>Reads the record at <paramref name="offset"/> of <paramref name="segment"/> through <paramref name="reader"/>, reopened when it is another file.</summary>
    private OutboxMessage ReadRecordAt(Segment segment, long offset, ref FileStream? reader)
    {
        if (reader is not null && reader.Name != segment.FullPath)
        {
            reader.Dispose();
            reader = null;
        }

        reader ??= new FileStream(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return TryReadRecord(reader, offset, out var message, out _)
            ? message
            : throw new InvalidDataException($"Outbox segment '{segment.Path}' is damaged at offset {offset}.");
    }

    private static bool TryReadRecord(FileStream stream, long offset, out OutboxMessage message, out int length)
    {
        message = null!;
        length = 0;
        Span<byte> header = stackalloc byte[HeaderBytes];
        stream.Position = offset;
        if (stream.Read(header) != HeaderBytes)
        {
            return false;
        }

        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var kindLength = header[24];
        if (payloadLength > int.MaxValue - HeaderBytes - 256 || offset + HeaderBytes + kindLength + payloadLength > stream.Length)
        {
            return false;
        }

        var body = new byte[kindLength + (int)payloadLength];
        if (stream.Read(body) != body.Length)
        {
            return false;
        }

        var crc = new Crc32();
        crc.Append(header[8..]);
        crc.Append(body);
        if (crc.GetCurrentHashAsUInt32() != BinaryPrimitives.ReadUInt32LittleEndian(header[4..]))
        {
            return false;
        }

        length = HeaderBytes + body.Length;
        message = new OutboxMessage(
            BinaryPrimitives.ReadUInt64LittleEndian(header[8..]),
            Encoding.ASCII.GetString(body, 0, kindLength),
            DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(header[16..])),
            body[kindLength..]);
        return true;
    }

    private ulong ReadAcked()
    {
        var path = Path.Combine(_directory, "acked");
        return File.Exists(path) && ulong.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : 0;
    }

    private void WriteAcked()
    {
        if (_acked == _ackedPersisted)
        {
            return;
        }

        var path = Path.Combine(_directory, "acked");
        File.WriteAllText(path + ".tmp", _acked.ToString(CultureInfo.InvariantCulture));
        File.Move(path + ".tmp", path, overwrite: true);
        _ackedPersisted = _acked;
        _lastAckedWrite = _time.GetTimestamp();
    }

    private void Signal()
    {
        var previous = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }

    /// <summary>A published message waiting for its confirmation.</summary>
    private readonly record struct Awaiting(long Stamp, int Attempts, long Epoch);

    /// <summary>
    /// One segment file's bookkeeping: each record's sequence, offset and kind, so that eviction can count and report
    /// what it drops, a re-send can read one record, and the reader can skip settled ones without touching the disk.
    /// </summary>
    private sealed class Segment(string path)
    {
        private readonly List<ulong> _sequences = [];
        private readonly List<int> _offsets = [];
        private readonly List<byte> _kinds = [];

        public string Path { get; } = path;

        public string FullPath { get; } = System.IO.Path.GetFullPath(path);

        public long Bytes { get; private set; }

        public int Count => _sequences.Count;

        public ulong FirstSequence => _sequences.Count > 0 ? _sequences[0] : 0;

        public ulong LastSequence => _sequences.Count > 0 ? _sequences[^1] : 0;

        public DateTimeOffset NewestEnqueuedAt { get; private set; }

        public ulong SequenceAt(int index) => _sequences[index];

        public long OffsetAt(int index) => _offsets[index];

        public byte KindAt(int index) => _kinds[index];

        public void Add(ulong sequence, int bytes, DateTimeOffset enqueuedAt, byte kind)
        {
            _sequences.Add(sequence);
            _offsets.Add((int)Bytes);
            _kinds.Add(kind);
            Bytes += bytes;
            if (enqueuedAt > NewestEnqueuedAt)
            {
                NewestEnqueuedAt = enqueuedAt;
            }
        }

        /// <summary>The index of <paramref name="sequence"/>, or -1.</summary>
        public int IndexOf(ulong sequence)
        {
            var index = _sequences.BinarySearch(sequence);
            return index >= 0 ? index : -1;
        }

        /// <summary>The index of the first sequence ≥ <paramref name="sequence"/> (Count when none).</summary>
        public int IndexAtOrAbove(ulong sequence)
        {
            var index = _sequences.BinarySearch(sequence);
            return index >= 0 ? index : ~index;
        }

        /// <summary>The index of the first sequence above <paramref name="sequence"/> (Count when none).</summary>
        public int IndexAbove(ulong sequence) => sequence == ulong.MaxValue ? Count : IndexAtOrAbove(sequence + 1);
    }
}
