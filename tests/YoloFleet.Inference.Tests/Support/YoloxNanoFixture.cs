namespace YoloFleet.Inference.Tests.Support;

/// <summary>One yolox_nano_416 detector per test class: opening a model costs more than the tests that use it.</summary>
public sealed class YoloxNanoFixture : IDisposable
{
    public Detector Detector { get; } = Detector.Open(SharedData.YoloxNano416, new DetectorOptions { IntraOpThreads = 2 });

    public void Dispose() => Detector.Dispose();
}
