using System.Buffers.Binary;
using System.Text;
using Npgsql;

namespace YoloFleet.Cloud.Data.Ingest;

/// <summary>
/// Writes rows in PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
/// Format") into a buffer, and the buffer to Npgsql's raw binary COPY stream. Only the column types the ingest tables
/// use are here.
/// </summary>
/// <remarks>
/// Npgsql's <see cref="NpgsqlBinaryImporter"/> binds a parameter for every field it writes (type resolution, size,
/// converter); at 500,000 fields a second that was about a third of a silo's CPU in a <c>dotnet-trace</c> profile.
/// The format itself is simple and fixed: a signature header, then per row a 16-bit field count and per field a 32-bit
/// length and the value in network byte order, then a -1 trailer. Tests read every column back through PostgreSQL.
/// </remarks>
public sealed class BinaryCopyWriter
{
    private const int FlushAt = 60 * 1024;

    // "PGCOPY\n\xff\r\n\0", then 32-bit flags (no OIDs) and a 32-bit header-extension length, both 0.
    private static readonly byte[] Header = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];

    // timestamptz travels as microseconds since 2000-01-01 00:00:00 UTC.
    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    private readonly Stream _stream;
    private byte[] _buffer = new byte[FlushAt + 4096];
    private int _length;

    private BinaryCopyWriter(Stream stream)
    {
        _stream = stream;
        Append(Header);
    }

    /// <summary>Rows started so far.</summary>
    public long Rows { get; private set; }

    /// <summary>
    /// Starts <paramref name="copyCommand"/> (a <c>COPY ... FROM STDIN (FORMAT BINARY)</c>), runs <paramref name="write"/>
    /// to fill it, and completes it; an exception cancels the COPY (and the caller's transaction fails).
    /// </summary>
    public static async Task<long> CopyAsync(
        NpgsqlConnection connection, string copyCommand, Func<BinaryCopyWriter, CancellationToken, ValueTask> write, CancellationToken cancellationToken)
    {
        await using var stream = await connection.BeginRawBinaryCopyAsync(copyCommand, cancellationToken);
        var writer = new BinaryCopyWriter(stream);
        try
        {
            await write(writer, cancellationToken);
            writer.WriteInt16Raw(-1);
            await writer.FlushAsync(cancellationToken);
        }
        catch
        {
            await stream.CancelAsync();
            throw;
        }

        return writer.Rows;
    }

    /// <summary>Begins a row of <paramref name="fields"/> values; write exactly that many next.</summary>
    public void StartRow(short fields)
    {
        WriteInt16Raw(fields);
        Rows++;
    }

    public void Text(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        var span = Reserve(4 + bytes);
        BinaryPrimitives.WriteInt32BigEndian(span, bytes);
        Encoding.UTF8.GetBytes(value, span[4..]);
    }

    public void Int16(short value)
    {
        var span = Reserve(6);
        BinaryPrimitives.WriteInt32BigEndian(span, 2);
        BinaryPrimitives.WriteInt16BigEndian(span[4..], value);
    }

    public void Int32(int value)
    {
        var span = Reserve(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
    }

    public void Int64(long value)
    {
        var span = Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
    }

    public void Bool(bool value)
    {
        var span = Reserve(5);
        BinaryPrimitives.WriteInt32BigEndian(span, 1);
        span[4] = value ? (byte)1 : (byte)0;
    }

    public void Float4(float value)
    {
        var span = Reserve(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteSingleBigEndian(span[4..], value);
    }

    /// <summary>A <c>timestamptz</c>, to the microsecond (PostgreSQL's resolution; finer ticks are dropped).</summary>
    public void TimestampTz(DateTimeOffset value)
    {
        var span = Reserve(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], (value.UtcTicks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
    }

    /// <summary>Sends the buffer once it holds enough to be worth a write; call between rows.</summary>
    public ValueTask FlushIfFullAsync(CancellationToken cancellationToken) =>
        _length >= FlushAt ? FlushAsync(cancellationToken) : ValueTask.CompletedTask;

    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(_buffer.AsMemory(0, _length), cancellationToken);
        _length = 0;
    }

    private void WriteInt16Raw(short value) => BinaryPrimitives.WriteInt16BigEndian(Reserve(2), value);

    private void Append(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Reserve(bytes.Length));

    private Span<byte> Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        var span = _buffer.AsSpan(_length, bytes);
        _length += bytes;
        return span;
    }
}
