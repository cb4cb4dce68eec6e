using YoloFleet.Inference.Tests.Support;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>
/// Small models the tests build themselves: YOLOX-shaped (input 64 x 64, output [1, 84, 85]: 8x8 + 4x4 + 2x2 cells, 80
/// classes) with a constant output, so they load and run in a millisecond. Different fills give different files.
/// </summary>
internal static class TinyModels
{
    public const int Side = 64;
    public const int Cells = 84;
    public const int RowLength = 85;

    /// <summary>A healthy model: every value is <paramref name="fill"/> (below any score threshold, so no detections).</summary>
    public static string WriteYolox(string folder, string fileName, float fill = 0f) =>
        Write(folder, fileName, TinyOnnxModel.ConstantOutput(Side, Side, "output", [1, Cells, RowLength], Filled(Cells * RowLength, fill)));

    /// <summary>
    /// Loads with the declared output [1, 84, 85], but run on an image whose smallest preprocessed value is 0 (the
    /// self-test image) it produces [1, 0, 85]: the wrong output shape, which only running it reveals.
    /// </summary>
    public static string WriteWrongShape(string folder, string fileName) =>
        Write(folder, fileName, TinyOnnxModel.ImageDependentRows(Side, Side, [1, Cells, RowLength], 0f));

    /// <summary>Runs with the right shape but outputs scores of 4 (objectness 2 times class 2): outputs no layout can mean.</summary>
    public static string WriteOverconfident(string folder, string fileName) =>
        Write(folder, fileName, TinyOnnxModel.ConstantOutput(Side, Side, "output", [1, Cells, RowLength], Filled(Cells * RowLength, 2f)));

    private static float[] Filled(int length, float value)
    {
        var values = new float[length];
        Array.Fill(values, value);
        return values;
    }

    private static string Write(string folder, string fileName, byte[] bytes)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
