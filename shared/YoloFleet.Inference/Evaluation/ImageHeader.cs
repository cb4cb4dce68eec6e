using System.Buffers.Binary;

namespace YoloFleet.Inference.Evaluation;

/// <summary>
/// Reads an image's pixel size from its header without decoding it: JPEG (SOF segment) and PNG (IHDR) directly, any
/// other format through a full OpenCV decode. The size is the stored one: a JPEG whose EXIF orientation turns it by 90
/// degrees decodes (in OpenCV) with its sides swapped.
/// </summary>
public static class ImageHeader
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <exception cref="ImageReadException">The file is missing, or neither its header nor OpenCV gives a size.</exception>
    public static (int Width, int Height) ReadSize(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new ImageReadException(path, $"Image file not found: '{Path.GetFullPath(path)}'.");
        }

        using (var stream = File.OpenRead(path))
        {
            Span<byte> start = stackalloc byte[24];
            var read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
            start = start[..read];
            if (start.Length >= 24 && start[..8].SequenceEqual(PngSignature))
            {
                return (BinaryPrimitives.ReadInt32BigEndian(start[16..]), BinaryPrimitives.ReadInt32BigEndian(start[20..]));
            }

            if (start.Length >= 2 && start[0] == 0xFF && start[1] == 0xD8)
            {
                stream.Position = 2;
                if (TryReadJpegSize(stream, out var size))
                {
                    return size;
                }
            }
        }

        using var image = ImageFile.Read(path);
        return (image.Width, image.Height);
    }

    /// <summary>Walks the JPEG segments up to the first start-of-frame marker, which holds the height and width.</summary>
    private static bool TryReadJpegSize(Stream stream, out (int Width, int Height) size)
    {
        size = default;
        Span<byte> header = stackalloc byte[7];
        while (true)
        {
            // Markers may be padded with any number of 0xFF fill bytes.
            int marker;
            do
            {
                marker = stream.ReadByte();
            }
            while (marker == 0xFF);

            if (marker < 0)
            {
                return false;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // Stand-alone markers carry no length.
            }

            if (stream.ReadAtLeast(header[..2], 2, throwOnEndOfStream: false) < 2)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(header);
            var isStartOfFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (isStartOfFrame)
            {
                // Length (2), precision (1), height (2), width (2).
                if (stream.ReadAtLeast(header[2..7], 5, throwOnEndOfStream: false) < 5)
                {
                    return false;
                }

                size = (BinaryPrimitives.ReadUInt16BigEndian(header[5..]), BinaryPrimitives.ReadUInt16BigEndian(header[3..]));
                return size.Width > 0 && size.Height > 0;
            }

            if (marker == 0xDA || length < 2)
            {
                return false; // Start of scan before any frame header, or a corrupt length.
            }

            stream.Seek(length - 2, SeekOrigin.Current);
            if (stream.ReadByte() != 0xFF)
            {
                return false;
            }
        }
    }
}
