using OpenCvSharp;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Shadow;
using Detection = YoloFleet.Inference.Detection;

namespace YoloFleet.EdgeAgent.Tests.Shadow;

public sealed class ShadowWindowTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static Detection Box(int classId, float x, float score = 0.8f) => new(classId, score, x, 10, x + 40, 50);

    private static ShadowWindow Window(double sampleRate = 1, double maxCpuShare = 1, int hardFrames = 2, int seed = 1)
    {
        var window = new ShadowWindow(new ShadowOptions { SampleRate = sampleRate, MaxCpuShare = maxCpuShare, HardFramesPerWindow = hardFrames }, new Random(seed));
        window.Start(T0);
        return window;
    }

    [Theory]
    [InlineData(0.0, 0, 0)]
    [InlineData(0.2, 150, 250)]
    [InlineData(1.0, 1000, 1000)]
    public void The_candidate_runs_on_the_sampled_share_of_frames(double rate, int min, int max)
    {
        var window = Window(sampleRate: rate);
        var runs = 0;
        for (var i = 0; i < 1000; i++)
        {
            if (window.Sample(activeMs: 10) == ShadowDecision.Run)
            {
                runs++;
                window.Record([], [], 10, 10, throttled: false);
            }
        }

        Assert.InRange(runs, min, max);
        var report = window.Close(T0.AddSeconds(60)).Report;
        Assert.Equal((1000u, (uint)runs, 0u), (report.Frames, report.ShadowedFrames, report.SkippedForBudget));
    }

    [Fact]
    public void Frames_over_the_cpu_budget_are_skipped_and_counted_and_the_share_stays_within_it()
    {
        // Every frame is sampled, and the candidate costs as much as the active model: without the budget it would take half.
        var window = Window(sampleRate: 1, maxCpuShare: 0.25);
        var decisions = new List<ShadowDecision>();
        for (var i = 0; i < 400; i++)
        {
            var decision = window.Sample(activeMs: 20);
            decisions.Add(decision);
            if (decision == ShadowDecision.Run)
            {
                window.Record([], [], 20, 20, throttled: false);
            }
        }

        var report = window.Close(T0.AddSeconds(60)).Report;
        Assert.Equal((uint)decisions.Count(d => d == ShadowDecision.SkippedForBudget), report.SkippedForBudget);
        Assert.True(report.SkippedForBudget > 200, $"{report.SkippedForBudget} skipped");
        Assert.Equal(report.Frames, report.ShadowedFrames + report.SkippedForBudget);
        Assert.InRange(report.ShadowCpuShare, 0.15f, 0.25f);
    }

    [Fact]
    public void A_window_reports_matches_and_each_models_own_boxes_and_latencies_without_throttled_frames()
    {
        var window = Window();
        Detection[] active = [Box(0, 0), Box(1, 100), Box(2, 200)];

        // Frame 1: the candidate finds the person and the bicycle, misses the car and adds a dog (class 16).
        window.Sample(10);
        Assert.Equal(2, window.Record(active, [Box(0, 2), Box(1, 101), Box(16, 300)], activeMs: 10, candidateMs: 30, throttled: false));

        // Frame 2: a box of the right place but the wrong class is no match (one only-active, one only-candidate).
        window.Sample(12);
        Assert.Equal(2, window.Record([Box(0, 0)], [Box(5, 0)], activeMs: 12, candidateMs: 34, throttled: false));

        // Frame 3: identical boxes; throttled, so its latencies stay out of the percentiles.
        window.Sample(100);
        Assert.Equal(0, window.Record(active, active, activeMs: 100, candidateMs: 300, throttled: true));

        var report = window.Close(T0.AddSeconds(60)).Report;
        Assert.Equal((3u, 3u, 0u), (report.Frames, report.ShadowedFrames, report.SkippedForBudget));
        Assert.Equal((2u + 0u + 3u, 1u + 1u, 1u + 1u), (report.Matched, report.OnlyActive, report.OnlyCandidate));
        Assert.Equal(1u, report.ThrottledFrames);
        Assert.Equal((10f, 12f, 30f, 34f), (report.ActiveP50Ms, report.ActiveP95Ms, report.CandidateP50Ms, report.CandidateP95Ms));
        Assert.Equal((T0.ToUnixTimeMilliseconds(), T0.AddSeconds(60).ToUnixTimeMilliseconds()), (report.WindowStartUnixMs, report.WindowEndUnixMs));
        Assert.Equal((float)((30 + 34 + 300) / (30 + 34 + 300 + 10 + 12 + 100.0)), report.ShadowCpuShare, 4);

        // The next window starts empty.
        var next = window.Close(T0.AddSeconds(120)).Report;
        Assert.Equal((0u, 0u, 0f), (next.Frames, next.Matched, next.ActiveP50Ms));
    }

    [Fact]
    public void The_frames_with_the_most_disagreement_are_kept_and_the_others_disposed()
    {
        var window = Window(hardFrames: 2);
        var images = new List<Mat>();
        foreach (var (disagreement, sequence) in new[] { (1, 1ul), (3, 2ul), (0, 3ul), (2, 4ul), (3, 5ul), (3, 6ul) })
        {
            if (window.IsTop(disagreement))
            {
                var image = new Mat(4, 4, MatType.CV_8UC3);
                images.Add(image);
                window.Keep(new DisagreementFrame(disagreement, image, new DetectionsPublished { Envelope = new Envelope { Sequence = sequence } }, []));
            }
        }

        var closed = window.Close(T0.AddSeconds(60));

        // Ties go to the earlier frame; a frame with no disagreement is never kept.
        Assert.Equal([2ul, 5ul], closed.TopFrames.Select(frame => frame.Active.Envelope.Sequence));
        Assert.Equal([3, 3], closed.TopFrames.Select(frame => frame.Disagreement));
        Assert.All(images.Where(image => closed.TopFrames.All(top => !ReferenceEquals(top.Image, image))), image => Assert.True(image.IsDisposed));
        Assert.All(closed.TopFrames, top => Assert.False(top.Image.IsDisposed));
        foreach (var top in closed.TopFrames)
        {
            top.Dispose();
        }
    }
}
