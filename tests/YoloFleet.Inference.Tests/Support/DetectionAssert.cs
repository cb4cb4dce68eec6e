using YoloFleet.Inference;

namespace YoloFleet.Inference.Tests.Support;

internal static class DetectionAssert
{
    /// <summary>The same boxes up to the float noise that different thread counts or session settings cause.</summary>
    public static void SameWithinRuntimeNoise(Detection[] expected, Detection[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].ClassId, actual[i].ClassId);
            Assert.Equal(expected[i].Score, actual[i].Score, 3);
            Assert.Equal(expected[i].X1, actual[i].X1, 1);
            Assert.Equal(expected[i].Y2, actual[i].Y2, 1);
        }
    }
}
