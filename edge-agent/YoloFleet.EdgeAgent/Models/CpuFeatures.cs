using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// The CPU features that decide whether an INT8 model can beat FP32 here (docs/quantization.md): 8-bit dot-product
/// instructions (x86 AVX-VNNI, AVX512-VNNI or AVX10; ARM's dot-product extension) and the vector widths. Read from
/// System.Runtime.Intrinsics, which asks the CPU itself; .NET 10 has no AVX512-VNNI class (and its SVE class is still
/// experimental), so those come from the kernel's /proc/cpuinfo flags where it can be read.
/// </summary>
public static class CpuFeatures
{
    /// <summary>The features present, comma-separated, e.g. "sse4.1,avx2,fma,avx-vnni,avx512f,avx512bw,avx512-vnni" or "asimd,asimd-dotprod,rdm".</summary>
    public static string Describe() => string.Join(",", Detect(ReadCpuInfoFlags()));

    internal static List<string> Detect(IReadOnlySet<string> cpuInfoFlags)
    {
        var features = new List<string>();
        void Add(bool present, string name)
        {
            if (present)
            {
                features.Add(name);
            }
        }

        Add(Sse41.IsSupported, "sse4.1");
        Add(Avx2.IsSupported, "avx2");
        Add(Fma.IsSupported, "fma");
        Add(AvxVnni.IsSupported, "avx-vnni");
        Add(Avx512F.IsSupported, "avx512f");
        Add(Avx512BW.IsSupported, "avx512bw");
        Add(cpuInfoFlags.Contains("avx512_vnni"), "avx512-vnni");
        Add(Avx10v1.IsSupported, "avx10.1");
        Add(AdvSimd.IsSupported, "asimd");
        Add(Dp.IsSupported, "asimd-dotprod");
        Add(Rdm.IsSupported, "rdm");
        Add(cpuInfoFlags.Contains("sve"), "sve");
        Add(cpuInfoFlags.Contains("i8mm"), "i8mm");
        return features;
    }

    /// <summary>The "flags" (x86) or "Features" (ARM) of the first CPU in /proc/cpuinfo; empty where there is none.</summary>
    internal static IReadOnlySet<string> ReadCpuInfoFlags(string path = "/proc/cpuinfo")
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("flags", StringComparison.Ordinal) || line.StartsWith("Features", StringComparison.Ordinal))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    return line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return new HashSet<string>();
    }
}
