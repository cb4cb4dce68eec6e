using OpenCvSharp;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>
/// The frames a benchmark cycles through, read once up front: decoded BGR images, or only their encoded bytes when
/// decoding is part of what is measured. Decoded frames stay resident, so they count towards the process's RSS
/// (<see cref="DecodedBytes"/> says how much).
/// </summary>
public sealed class BenchmarkImages : IDisposable
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff",
    };

    private readonly Mat[] _decoded;
    private readonly byte[][] _encoded;

    private BenchmarkImages(IReadOnlyList<string> names, Mat[] decoded, byte[][] encoded)
    {
        Names = names;
        _decoded = decoded;
        _encoded = encoded;
    }

    public IReadOnlyList<string> Names { get; }

    public int Count => Names.Count;

    /// <summary>Whether frames are kept encoded and decoded inside the measured loop.</summary>
    public bool Encoded => _encoded.Length > 0;

    /// <summary>Bytes of decoded pixels held (0 when <see cref="Encoded"/>).</summary>
    public long DecodedBytes => _decoded.Sum(image => image.Total() * image.ElemSize());

    /// <summary>The image files of <paramref name="folder"/>, by name, at most <paramref name="maxImages"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ImageReadException">The folder has no image files, or one of them does not decode.</exception>
    public static BenchmarkImages FromFolder(string folder, int maxImages, bool keepEncoded)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImages, 1);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Image folder not found: '{Path.GetFullPath(folder)}'.");
        }

        var files = ImageFilesIn(folder).Take(maxImages).ToList();
        if (files.Count == 0)
        {
            throw new ImageReadException(folder,
                $"'{Path.GetFullPath(folder)}' holds no image files ({string.Join(", ", ImageExtensions.Order(StringComparer.Ordinal))}).");
        }

        return FromFiles(files, keepEncoded);
    }

    /// <summary>Reads the given image files.</summary>
    /// <exception cref="ImageReadException">A file is missing or does not decode.</exception>
    public static BenchmarkImages FromFiles(IReadOnlyList<string> files, bool keepEncoded)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentOutOfRangeException.ThrowIfZero(files.Count);
        var names = files.Select(Path.GetFileName).ToArray();
        var decoded = new List<Mat>();
        try
        {
            if (!keepEncoded)
            {
                foreach (var file in files)
                {
                    decoded.Add(ImageFile.Read(file));
                }

                return new BenchmarkImages(names!, [.. decoded], []);
            }

            var encoded = new byte[files.Count][];
            for (var i = 0; i < files.Count; i++)
            {
                // Decode once now so that a bad file fails here, not in the middle of the measurement.
                ImageFile.Read(files[i]).Dispose();
                encoded[i] = File.ReadAllBytes(files[i]);
            }

            return new BenchmarkImages(names!, [], encoded);
        }
        catch
        {
            foreach (var image in decoded)
            {
                image.Dispose();
            }

            throw;
        }
    }

    /// <summary>Image files directly in <paramref name="folder"/> (by extension), sorted by name.</summary>
    public static IEnumerable<string> ImageFilesIn(string folder) =>
        Directory.EnumerateFiles(folder)
            .Where(file => ImageExtensions.Contains(Path.GetExtension(file)))
            .Order(StringComparer.Ordinal);

    /// <summary>Frame <paramref name="index"/> (cycling), decoded; borrowed, do not dispose.</summary>
    internal Mat Decoded(int index) => _decoded[index % _decoded.Length];

    /// <summary>Frame <paramref name="index"/> (cycling), encoded.</summary>
    internal byte[] EncodedBytes(int index) => _encoded[index % _encoded.Length];

    public void Dispose()
    {
        foreach (var image in _decoded)
        {
            image.Dispose();
        }
    }
}
