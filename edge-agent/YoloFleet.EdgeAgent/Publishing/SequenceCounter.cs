using System.Globalization;

namespace YoloFleet.EdgeAgent.Publishing;

/// <summary>
/// The device's message sequence: strictly increasing across restarts and crashes. Numbers are reserved in blocks whose
/// end is written (and flushed to disk) before any number of the block is used, so a crash can skip numbers (the cloud
/// sees a gap) but never reuse one (which the cloud would drop as a duplicate). <c>above</c> is a floor from elsewhere
/// (the outbox's highest number): a sequence file lost or restored from an older copy cannot make numbers go back.
/// </summary>
public sealed class SequenceCounter : IDisposable
{
    private readonly string _path;
    private readonly int _blockSize;
    private readonly Lock _gate = new();
    private long _next;
    private long _reservedUpTo;

    public SequenceCounter(string stateDirectory, int blockSize = 100, ulong above = 0)
    {
        Directory.CreateDirectory(stateDirectory);
        _path = Path.Combine(stateDirectory, "sequence");
        _blockSize = blockSize;
        _next = Math.Max(File.Exists(_path) ? ReadReserved() + 1 : 1, checked((long)above + 1));
        _reservedUpTo = _next - 1;
    }

    public ulong Next()
    {
        lock (_gate)
        {
            if (_next > _reservedUpTo)
            {
                Reserve(_next + _blockSize - 1);
            }

            return (ulong)_next++;
        }
    }

    /// <summary>On a clean stop, records exactly what was used, so the next start skips nothing.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_reservedUpTo != _next - 1)
            {
                Reserve(_next - 1);
            }
        }
    }

    private long ReadReserved()
    {
        var text = File.ReadAllText(_path).Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw new InvalidDataException($"The sequence file '{_path}' holds '{text}', not a number. Fix or delete it (deleting restarts at 1, which the cloud will treat as duplicates).");
    }

    private void Reserve(long upTo)
    {
        var temp = _path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(upTo.ToString(CultureInfo.InvariantCulture));
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, _path, overwrite: true);
        _reservedUpTo = upTo;
    }
}
