using CsCheck;

namespace YoloFleet.Testing;

/// <summary>
/// Generated bad input for the property-based fuzz tests (Category=Security): random bytes, and valid messages damaged
/// by a few edits (a flipped byte, a byte inserted or deleted, a cut), which reach deeper into a parser than noise does.
/// Linked into each test project that fuzzes a parser.
/// </summary>
public static class FuzzInputs
{
    /// <summary>How many inputs each fuzz property tries.</summary>
    public const int Iterations = 4000;

    /// <summary>Random bytes, up to <paramref name="maxLength"/> long.</summary>
    public static Gen<byte[]> Noise(int maxLength = 512) => Gen.Byte.Array[0, maxLength];

    /// <summary><paramref name="seed"/> with one to eight edits.</summary>
    public static Gen<byte[]> Damaged(byte[] seed) =>
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte).Array[1, 8].Select(edits => Apply(seed, edits));

    /// <summary>Noise or any of the seeds damaged, in equal shares.</summary>
    public static Gen<byte[]> NoiseOrDamaged(params byte[][] seeds) =>
        Gen.OneOf([Noise(), .. seeds.Select(Damaged)]);

    private static byte[] Apply(byte[] seed, (int Op, int Position, byte Value)[] edits)
    {
        var bytes = new List<byte>(seed);
        foreach (var (op, position, value) in edits)
        {
            var at = position % (bytes.Count + 1);
            switch (op)
            {
                case 0 when at < bytes.Count:
                    bytes[at] ^= (byte)(value | 1);
                    break;
                case 1:
                    bytes.Insert(at, value);
                    break;
                case 2 when at < bytes.Count:
                    bytes.RemoveAt(at);
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
        }

        return [.. bytes];
    }
}
