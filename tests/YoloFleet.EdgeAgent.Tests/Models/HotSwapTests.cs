using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Sources;
using YoloFleet.Inference;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>A model swap in the middle of a running pipeline: no frame lost, none run twice, each tagged with its model.</summary>
public sealed class HotSwapTests
{
    private const int Frames = 40;
    private const int SwitchAfter = 10;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task A_swap_mid_run_loses_no_frame_and_every_frame_names_the_model_that_ran_it(int slots)
    {
        using var rig = new PipelineTestRig(options => (options.Pipeline.Slots, options.Source.MaxFrames) = (slots, Frames));
        var yolox = rig.Detectors.Current;
        var picodet = Detector.Open(SharedData.PicoDetS320);
        var next = new DetectorGeneration(picodet, new RunningModel(picodet.Model.Sha256, picodet.Model.Version, ModelOrigin.Slot, picodet.Model.Path));
        var published = new List<DetectionsPublished>();
        var disposedAtSwitch = false;
        rig.Pipeline.Published = message =>
        {
            published.Add(message);
            if (published.Count == SwitchAfter)
            {
                // What the assignment service does once a candidate passed its checks (and once it is confirmed).
                var previous = rig.Detectors.SwitchTo(next);
                rig.Detectors.Retire(previous);
                disposedAtSwitch = yolox.IsDisposed;
            }

            return Task.CompletedTask;
        };

        using (var source = new ImageFolderSource(SharedData.Coco128Images, loop: true, rig.Time))
        {
            await rig.Pipeline.RunAsync(source, CancellationToken.None);
        }

        Assert.Equal(Frames, published.Count);
        Assert.Equal([.. Enumerable.Range(1, Frames).Select(i => (ulong)i)], published.Select(m => m.Envelope.Sequence));
        Assert.Equal(Frames, rig.Outbox.Depth);

        // Frames already preprocessed at the switch finish on the old model; every later one runs the new model.
        var shas = published.Select(m => m.ModelSha256).ToList();
        var firstNew = shas.IndexOf(picodet.Model.Sha256);
        Assert.InRange(firstNew, SwitchAfter, SwitchAfter + slots);
        Assert.All(shas.Take(firstNew), sha => Assert.Equal(yolox.Model.Sha256, sha));
        Assert.All(shas.Skip(firstNew), sha => Assert.Equal(picodet.Model.Sha256, sha));
        Assert.All(published, m => Assert.Equal(m.ModelSha256 == picodet.Model.Sha256 ? picodet.Model.Version : yolox.Model.Version, m.ModelVersion));
        Assert.Equal(Frames - firstNew, next.Frames);

        // The old detector outlived the switch while frames still used it, and went once they were done.
        Assert.Equal(firstNew == SwitchAfter, disposedAtSwitch);
        Assert.True(yolox.IsDisposed);
        Assert.False(next.IsDisposed);
        Assert.Equal(picodet.Model.Sha256, rig.TelemetryReport().ActiveModelSha256);
    }
}
