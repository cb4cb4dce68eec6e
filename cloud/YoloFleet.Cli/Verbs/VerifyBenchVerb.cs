using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using YoloFleet.Cloud.Data.Ingest;
using YoloFleet.Cloud.Verification;
using YoloFleet.Inference;

namespace YoloFleet.Cli.Verbs;

/// <summary>
/// `yolofleet verify-bench`: the FP32 verifier's hard frames per second on this machine. The same worker engine as the
/// silo (<see cref="HardFrameVerifier"/>: JPEG decode, the cloud model, matching) runs as a pool over coco128 JPEGs, each
/// carrying the model's own boxes as the edge's. The database write (one small INSERT per frame) is not included.
/// docs/storage.md records its figures.
/// </summary>
internal static class VerifyBenchVerb
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Cloud model (default: ../shared/models/yolox_nano/yolox_nano_416.onnx)." };
        var images = new Option<string?>("--images") { Description = "JPEG folder cycled through (default: ../shared/datasets/coco128/images)." };
        var frames = new Option<int>("--frames", "-n") { Description = "Measured hard frames.", DefaultValueFactory = _ => 100 };
        var workers = new Option<int>("--workers", "-w") { Description = "Verifier workers (0: cores / threads, as the silo does).", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads", "-t") { Description = "ONNX Runtime intra-op threads per worker.", DefaultValueFactory = _ => 2 };
        var command = new Command("verify-bench", "Measure the FP32 verifier's hard frames per second (decode, cloud model, matching).")
        {
            model, images, frames, workers, threads,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var options = new VerifierOptions
                {
                    ModelPath = parse.GetValue(model) ?? SharedData.YoloxNano416,
                    Workers = parse.GetValue(workers),
                    ThreadsPerWorker = parse.GetValue(threads),
                };
                return await RunAsync(options, parse.GetValue(images) ?? SharedData.Coco128Images, Math.Max(1, parse.GetValue(frames)), cancellationToken);
            }
            catch (Exception ex) when (ex is ModelLoadException or DirectoryNotFoundException or InvalidOperationException)
            {
                await Console.Error.WriteLineAsync("error: " + ex.Message);
                return 2;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(VerifierOptions options, string imageFolder, int frames, CancellationToken cancellationToken)
    {
        var workers = options.EffectiveWorkers;
        var verifiers = new List<HardFrameVerifier>();
        try
        {
            for (var i = 0; i < workers; i++)
            {
                verifiers.Add(new HardFrameVerifier(
                    Detector.Open(options.ModelPath, new DetectorOptions { IntraOpThreads = options.ThreadsPerWorker }), TimeProvider.System));
            }

            // Hard frames as the edge sends them: the JPEG and its own boxes (here the model's, so every pair matches).
            var paths = Directory.GetFiles(imageFolder, "*.jpg").Order(StringComparer.Ordinal).Take(32).ToArray();
            if (paths.Length == 0)
            {
                throw new InvalidOperationException($"No .jpg images in {imageFolder}.");
            }

            var samples = new List<HardFrameRow>(paths.Length);
            using (var detector = Detector.Open(options.ModelPath))
            {
                foreach (var path in paths)
                {
                    using var image = ImageFile.Read(path);
                    var boxes = detector.Detect(image).Select(d => new DetectionRow((short)d.ClassId, d.Score, d.X1, d.Y1, d.X2, d.Y2)).ToArray();
                    samples.Add(new HardFrameRow("bench", samples.Count + 1, samples.Count, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
                        "bench", "sampled", await File.ReadAllBytesAsync(path, cancellationToken), boxes));
                }
            }

            // Warm-up: one frame per worker (first runs allocate and plan).
            foreach (var verifier in verifiers)
            {
                verifier.Verify(samples[0]);
            }

            var queue = new ConcurrentQueue<HardFrameRow>(Enumerable.Range(0, frames).Select(i => samples[i % samples.Count]));
            var matched = 0L;
            var reference = 0L;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(verifiers.Select(v => Task.Run(
                () =>
                {
                    while (queue.TryDequeue(out var frame))
                    {
                        var verdict = v.Verify(frame)![0];
                        Interlocked.Add(ref matched, verdict.Matched);
                        Interlocked.Add(ref reference, verdict.ReferenceBoxes);
                    }
                },
                cancellationToken)));
            clock.Stop();

            var perSecond = frames / clock.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model {verifiers[0].VerifierModel}: {frames} hard frames, {workers} worker(s) x {options.ThreadsPerWorker} thread(s), {Environment.ProcessorCount} cores"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{perSecond:F1} hard frames/s ({clock.Elapsed.TotalMilliseconds / frames * workers:F1} ms per frame per worker); matched {matched} of {reference} reference boxes"));
            return 0;
        }
        finally
        {
            foreach (var v in verifiers)
            {
                v.Dispose();
            }
        }
    }
}
