using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace YoloFleet.EdgeAgent.Outbox;

/// <summary>A message waiting in the outbox.</summary>
public sealed record OutboxMessage(ulong Sequence, string Kind, DateTimeOffset EnqueuedAt, byte[] Payload);

/// <summary>
/// The agent's durable store-and-forward queue: every upstream message is appended here first and removed only after
/// the broker acknowledged it, so nothing is lost while the broker cannot be reached, across restarts, or when the
/// process is killed. Bounded by size and age: when full, the oldest segment is evicted and its messages counted.
/// </summary>
/// <remarks>
/// Layout: append-only segment files <c>{first sequence:D20}.seg</c> of records
/// <c>[u32 payload length][u32 CRC-32 of the rest][u64 sequence][i64 enqueued unix ms][u8 kind length][kind][payload]</c>,
/// plus a small <c>acked</c> file holding the highest sequence acknowledged (or evicted). A torn record at the end of
/// the last segment (a crash mid-write) is cut off at open. The acknowledged mark is written lazily: losing its latest
/// value only causes messages to be sent again, which the cloud de-duplicates by sequence. Thread-safe.
/// </remarks>
public sealed class OutboxStore : IDisposable
{
    private const string SegmentExtension = ".seg";
    private const int HeaderBytes = 4 + 4 + 8 + 8 + 1;
    private static readonly TimeSpan AckedWriteInterval = TimeSpan.FromMilliseconds(200);

    private readonly string _directory;
    private readonly OutboxOptions _options;
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
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The read cursor: the next record to hand to the publisher.
    private Segment? _readSegment;
    private long _readOffset;
    private FileStream? _reader;

    public OutboxStore(string directory, OutboxOptions options, TimeProvider time)
    {
        _directory = directory;
        _options = options;
        _time = time;
        Directory.CreateDirectory(directory);
        _acked = ReadAcked();
        _ackedPersisted = _acked;
        Load();
        Rewind();
    }

    /// <summary>Messages appended and not yet acknowledged or evicted.</summary>
    public long Depth => Interlocked.Read(ref _pending);

    /// <summary>Messages dropped unsent because the outbox was full or they were too old.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>Records found damaged at open and skipped.</summary>
    public long Corrupt => Interlocked.Read(ref _corrupt);

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

    /// <summary>The highest sequence acknowledged or evicted.</summary>
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

            last.Add(sequence, record.Length, now);
            _pending++;
            if (_readSegment is null)
            {
                _readSegment = last;
                _readOffset = last.Bytes - record.Length;
            }

            EnforceBounds();
            Signal();
        }
    }

    /// <summary>The next message not yet handed out since the last <see cref="Rewind"/>, or null when there is none.</summary>
    public OutboxMessage? TryReadNext()
    {
        lock (_gate)
        {
            while (_readSegment is not null)
            {
                if (_readOffset < _readSegment.Bytes)
                {
                    var message = ReadRecordAt(_readSegment, _readOffset, out var length);
                    _readOffset += length;
                    if (message.Sequence > _acked)
                    {
                        return message;
                    }

                    continue;
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

    /// <summary>Moves the read cursor back to the oldest unacknowledged message (after a reconnect).</summary>
    public void Rewind()
    {
        lock (_gate)
        {
            var first = _segments.FirstOrDefault(s => s.LastSequence > _acked);
            MoveReader(first, 0);
        }
    }

    /// <summary>
    /// Marks every message up to <paramref name="sequence"/> as delivered. Segments holding only delivered messages are
    /// deleted. Call it in sequence order.
    /// </summary>
    public void Acknowledge(ulong sequence)
    {
        lock (_gate)
        {
            if (sequence <= _acked)
            {
                return;
            }

            _pending -= CountUnacked(sequence);
            _acked = sequence;
            while (_segments.Count > 1 && _segments[0].LastSequence <= _acked)
            {
                DeleteSegment(_segments[0]);
            }

            if (_time.GetElapsedTime(_lastAckedWrite) >= AckedWriteInterval)
            {
                WriteAcked();
            }

            Signal();
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

    /// <summary>Completes when something is appended, acknowledged or evicted.</summary>
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
            WriteAcked();
        }
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

                    segment.Add(message.Sequence, length, message.EnqueuedAt);
                    if (message.Sequence > _acked)
                    {
                        _pending++;
                    }

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

    private void EnforceBounds()
    {
        var total = _segments.Sum(s => s.Bytes);
        var oldestAllowed = _time.GetUtcNow() - _options.MaxAge;
        while (_segments.Count > 0)
        {
            var oldest = _segments[0];
            var overSize = total > _options.MaxBytes && _segments.Count > 1;
            var tooOld = oldest.NewestEnqueuedAt < oldestAllowed && oldest.Count > 0;
            if (!overSize && !tooOld)
            {
                break;
            }

            var lost = CountUnacked(oldest.LastSequence);
            _evicted += lost;
            _pending -= lost;
            _acked = Math.Max(_acked, oldest.LastSequence);
            total -= oldest.Bytes;
            if (oldest == _segments[^1])
            {
                // Everything is too old: drop the active segment too and start afresh on the next append.
                _writer?.Dispose();
                _writer = null;
            }

            DeleteSegment(oldest);
            WriteAcked();
        }
    }

    /// <summary>Unacknowledged messages with sequence ≤ <paramref name="upTo"/>: they are all in the leading segments.</summary>
    private long CountUnacked(ulong upTo)
    {
        long count = 0;
        foreach (var segment in _segments)
        {
            if (segment.FirstSequence > upTo)
            {
                break;
            }

            count += segment.CountBetween(_acked, upTo);
        }

        return count;
    }

    private void DeleteSegment(Segment segment)
    {
        var index = _segments.IndexOf(segment);
        _segments.RemoveAt(index);
        if (_readSegment == segment)
        {
            MoveReader(index < _segments.Count ? _segments[index] : null, 0);
        }

        File.Delete(segment.Path);
    }

    private void MoveReader(Segment? segment, long offset)
    {
        if (_readSegment != segment)
        {
            _reader?.Dispose();
            _reader = null;
        }

        _readSegment = segment;
        _readOffset = offset;
    }

    private OutboxMessage ReadRecordAt(Segment segment, long offset, out int length)
    {
        _reader ??= new FileStream(segment.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return TryReadRecord(_reader, offset, out var message, out length)
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

    /// <summary>One segment file's bookkeeping. Sequences are kept so that eviction can count what it drops.</summary>
    private sealed class Segment(string path)
    {
        private readonly List<ulong> _sequences = [];

        public string Path { get; } = path;

        public long Bytes { get; private set; }

        public int Count => _sequences.Count;

        public ulong FirstSequence => _sequences.Count > 0 ? _sequences[0] : 0;

        public ulong LastSequence => _sequences.Count > 0 ? _sequences[^1] : 0;

        public DateTimeOffset NewestEnqueuedAt { get; private set; }

        public void Add(ulong sequence, int bytes, DateTimeOffset enqueuedAt)
        {
            _sequences.Add(sequence);
            Bytes += bytes;
            if (enqueuedAt > NewestEnqueuedAt)
            {
                NewestEnqueuedAt = enqueuedAt;
            }
        }

        /// <summary>How many sequences s hold after &lt; s ≤ upTo (the list is sorted).</summary>
        public long CountBetween(ulong after, ulong upTo) => UpperBound(upTo) - UpperBound(after);

        private int UpperBound(ulong value)
        {
            var index = _sequences.BinarySearch(value);
            return index >= 0 ? index + 1 : ~index;
        }
    }
}
