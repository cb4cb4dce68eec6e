using System.Diagnostics;
using YoloFleet.Inference;
using YoloFleet.Inference.Evaluation;

namespace YoloFleet.Cloud.Registry.Quantization;

/// <summary>How the INT8 model's boxes agree with its FP32 parent's on frames held back from calibration.</summary>
/// <param name="Precision">Matched INT8 boxes / INT8 boxes (1 when INT8 found nothing).</param>
/// <param name="Recall">Matched FP32 boxes / FP32 boxes (1 when FP32 found nothing).</param>
public sealed record Int8Agreement(int Frames, int Fp32Boxes, int Int8Boxes, int Matched, double Precision, double Recall, double MeanIou, float MinIou);

/// <summary>Median whole-frame latency (pre-processing, model, decode, NMS) of both on the same frames, timed alternately.</summary>
public sealed record Int8Latency(double Fp32P50Ms, double Int8P50Ms, int Frames, int Rounds, int Threads)
{
    public double Ratio => Fp32P50Ms > 0 ? Int8P50Ms / Fp32P50Ms : double.NaN;
}

/// <summary>
/// The quantize job's evaluation: both models through the real <see cref="Detector"/> (their manifests' thresholds), box
/// agreement by <see cref="BoxMatcher"/> with FP32 as the reference, and latency measured alternately frame by frame so
/// that load on the silo hits both alike. The latency is the silo's, not a device's: agents measure their own.
/// </summary>
public static class Int8Comparison
{
    public static (Int8Agreement Agreement, Int8Latency Latency) Run(Detector fp32, Detector int8, IReadOnlyList<EncodedFrame> heldOut, int rounds, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(heldOut.Count, 1);
        var images = heldOut.Select(EncodedFrameCalibrationSet.Decode).ToList();
        try
        {
            int fp32Boxes = 0, int8Boxes = 0, matched = 0;
            var iouSum = 0.0;
            foreach (var image in images)
            {
                var reference = fp32.Detect(image);
                var candidate = int8.Detect(image);
                var match = BoxMatcher.Match(candidate, reference);
                fp32Boxes += reference.Length;
                int8Boxes += candidate.Length;
                matched += match.Matched;
                iouSum += match.Pairs.Sum(pair => pair.Iou);
            }

            // The pass above warmed both sessions up; now time them, alternating per frame.
            var fp32Times = new List<double>(images.Count * rounds);
            var int8Times = new List<double>(images.Count * rounds);
            for (var round = 0; round < rounds; round++)
            {
                foreach (var image in images)
                {
                    fp32Times.Add(Time(fp32, image));
                    int8Times.Add(Time(int8, image));
                }
            }

            var agreement = new Int8Agreement(
                images.Count,
                fp32Boxes,
                int8Boxes,
                matched,
                int8Boxes == 0 ? 1 : (double)matched / int8Boxes,
                fp32Boxes == 0 ? 1 : (double)matched / fp32Boxes,
                matched == 0 ? 0 : iouSum / matched,
                BoxMatcher.MinIou);
            return (agreement, new Int8Latency(Median(fp32Times), Median(int8Times), images.Count, rounds, threads));
        }
        finally
        {
            foreach (var image in images)
            {
                image.Dispose();
            }
        }
    }

    private static double Time(Detector detector, OpenCvSharp.Mat image)
    {
        var started = Stopwatch.GetTimestamp();
        detector.Detect(image);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        var middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
