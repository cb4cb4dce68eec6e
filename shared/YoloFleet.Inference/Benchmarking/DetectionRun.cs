using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenCvSharp;

namespace YoloFleet.Inference.Benchmarking;

/// <summary>Where <see cref="DetectionRun"/> puts its results.</summary>
public sealed class DetectionRunOptions
{
    /// <summary>Folder for annotated JPEGs and detections.json (a JSON array of frame objects); created if missing.</summary>
    public string? OutputFolder { get; set; }

    /// <summary>Receives one compact JSON object per frame, one per line (JSON Lines).</summary>
    public TextWriter? JsonLines { get; set; }

    /// <summary>Receives one readable line per frame.</summary>
    public TextWriter? Text { get; set; }

    /// <summary>Called with a status line at most every <see cref="ProgressInterval"/>, and after the last frame.</summary>
    public Action<string>? Progress { get; set; }

    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);

    public int JpegQuality { get; set; } = 90;
}

/// <summary>What a <see cref="DetectionRun"/> did.</summary>
/// <param name="JsonPath">The detections.json written, if any.</param>
public sealed record DetectionRunSummary(
    int Frames, long Detections, double MeanDetectMs, IReadOnlyList<(string File, string Reason)> Skipped, string? JsonPath, int AnnotatedWritten);

/// <summary>
/// Detects objects in every frame of a <see cref="FrameInput"/> and writes annotated JPEGs and JSON: the work behind
/// `yolofleet detect`, kept here so it is tested without the CLI.
/// </summary>
public static class DetectionRun
{
    public const string JsonFileName = "detections.json";

    // File and class names as written (e.g. "café.jpg"), not \u-escaped: this JSON goes to files and terminals, not HTML.
    private static readonly JavaScriptEncoder JsonEncoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <exception cref="ArgumentException">The output folder is the input folder (annotated images would overwrite the inputs).</exception>
    public static DetectionRunSummary Run(Detector detector, FrameInput input, DetectionRunOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);

        string? outputFolder = null;
        if (options.OutputFolder is not null)
        {
            outputFolder = Path.GetFullPath(options.OutputFolder);
            var inputFolder = input.Kind == FrameInputKind.Folder ? input.Path : Path.GetDirectoryName(input.Path);
            if (string.Equals(Path.TrimEndingDirectorySeparator(outputFolder), Path.TrimEndingDirectorySeparator(inputFolder ?? ""), StringComparison.Ordinal))
            {
                throw new ArgumentException($"The output folder '{outputFolder}' is the input's folder; annotated images would overwrite the inputs. Choose another --output.");
            }

            Directory.CreateDirectory(outputFolder);
        }

        var classNames = detector.Model.ClassNames;
        var results = new List<Detection>();
        var usedNames = new HashSet<string>(StringComparer.Ordinal);
        var lineBuffer = new ArrayBufferWriter<byte>();
        var encodingParameters = new[] { new ImageEncodingParam(ImwriteFlags.JpegQuality, options.JpegQuality) };
        var jsonPath = outputFolder is null ? null : Path.Combine(outputFolder, JsonFileName);

        using var jsonFile = jsonPath is null ? null : File.Create(jsonPath);
        using var fileWriter = jsonFile is null ? null : new Utf8JsonWriter(jsonFile, new JsonWriterOptions { Indented = true, Encoder = JsonEncoder });
        fileWriter?.WriteStartArray();

        var frames = 0;
        var written = 0;
        long detections = 0;
        var detectMs = 0.0;
        var lastProgress = DateTime.UtcNow;
        var expected = input.ExpectedFrames;
        foreach (var frame in input.Frames())
        {
            cancellationToken.ThrowIfCancellationRequested();
            detector.Detect(frame.Image, results);
            detectMs += detector.LastTimings.TotalMs;
            frames++;
            detections += results.Count;
            var fileName = Path.GetFileName(frame.File);

            if (fileWriter is not null)
            {
                DetectionJson.Write(fileWriter, fileName, frame.Index, frame.Image.Width, frame.Image.Height, results, classNames);
                fileWriter.Flush();
            }

            if (options.JsonLines is not null)
            {
                lineBuffer.Clear();
                using (var lineWriter = new Utf8JsonWriter(lineBuffer, new JsonWriterOptions { Encoder = JsonEncoder }))
                {
                    DetectionJson.Write(lineWriter, fileName, frame.Index, frame.Image.Width, frame.Image.Height, results, classNames);
                }

                options.JsonLines.WriteLine(Encoding.UTF8.GetString(lineBuffer.WrittenSpan));
            }

            options.Text?.WriteLine(Describe(fileName, frame, input.Kind, results, classNames));

            if (outputFolder is not null)
            {
                DetectionOverlay.Draw(frame.Image, results, classNames);
                var annotated = Path.Combine(outputFolder, AnnotatedName(frame, input.Kind, usedNames));
                if (!Cv2.ImWrite(annotated, frame.Image, encodingParameters))
                {
                    throw new IOException($"OpenCV could not write '{annotated}'.");
                }

                written++;
            }

            if (options.Progress is not null && DateTime.UtcNow - lastProgress >= options.ProgressInterval)
            {
                lastProgress = DateTime.UtcNow;
                options.Progress($"[{frames}{(expected > 0 ? "/" + expected.ToString(CultureInfo.InvariantCulture) : "")}] {fileName}" +
                    $"{(input.Kind == FrameInputKind.Video ? " frame " + frame.Index.ToString(CultureInfo.InvariantCulture) : "")}: {results.Count} detections, {detector.LastTimings.TotalMs:F1} ms");
            }
        }

        fileWriter?.WriteEndArray();
        fileWriter?.Flush();
        var mean = frames > 0 ? detectMs / frames : 0;
        options.Progress?.Invoke($"done: {frames} frames, {detections} detections, {mean:F1} ms per frame" +
            $"{(input.Skipped.Count > 0 ? $", {input.Skipped.Count} unreadable images skipped" : "")}");
        return new DetectionRunSummary(frames, detections, mean, input.Skipped, jsonPath, written);
    }

    private static string Describe(string fileName, InputFrame frame, FrameInputKind kind, List<Detection> results, IReadOnlyList<string> classNames)
    {
        var text = new StringBuilder();
        text.Append(fileName);
        if (kind == FrameInputKind.Video)
        {
            text.Append(CultureInfo.InvariantCulture, $" frame {frame.Index}");
        }

        text.Append(CultureInfo.InvariantCulture, $" ({frame.Image.Width}x{frame.Image.Height}): {results.Count} detections");
        for (var i = 0; i < results.Count; i++)
        {
            text.Append(i == 0 ? ": " : ", ")
                .Append(DetectionOverlay.ClassName(classNames, results[i].ClassId))
                .Append(' ')
                .Append(results[i].Score.ToString("0.00", CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    /// <summary>"name.jpg" for an image (kept unique within the run), "video_000042.jpg" for a video frame.</summary>
    private static string AnnotatedName(InputFrame frame, FrameInputKind kind, HashSet<string> used)
    {
        var stem = Path.GetFileNameWithoutExtension(frame.File);
        if (kind == FrameInputKind.Video)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{stem}_{frame.Index:D6}.jpg");
        }

        var name = stem + ".jpg";
        if (!used.Add(name))
        {
            // a.png beside a.jpg: keep both by naming the second after its extension.
            name = $"{stem}_{Path.GetExtension(frame.File).TrimStart('.')}.jpg";
            used.Add(name);
        }

        return name;
    }
}
