using System.Buffers;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.EdgeAgent.Publishing;
using YoloFleet.EdgeAgent.Telemetry;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>
/// The agent's model half, wired as the host wires it (real slot store, downloader, health check, outbox) but without
/// MQTT or a pipeline: assignments go in through the real handler, acknowledgements are recorded as they are stored in
/// the outbox. A second rig on the same state directory is the agent after a restart.
/// </summary>
internal sealed class AssignmentRig : IAsyncDisposable
{
    private readonly SequenceCounter _sequence;
    private readonly List<ModelAssignmentAcknowledged> _acks = [];

    public AssignmentRig(string factoryModel, TestModelSigner signer, string? stateDirectory = null, Action<EdgeAgentOptions>? configure = null)
    {
        StateDirectory = stateDirectory ?? Path.Combine(Path.GetTempPath(), "yf-assign-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(StateDirectory);
        Options = new EdgeAgentOptions { DeviceId = "slots-01", StateDirectory = StateDirectory, ModelPath = factoryModel };
        Options.Models.TrustedKeys = [signer.PublicKeyPem];
        Options.Models.AllowHttp = true;
        Options.Models.HealthCheckRuns = 3;
        Options.Models.ConfirmTimeout = TimeSpan.FromMilliseconds(200);
        Options.Models.DownloadRetryDelay = TimeSpan.FromMilliseconds(20);
        Options.Models.DownloadMaxRetryDelay = TimeSpan.FromMilliseconds(50);
        Options.Models.DownloadAttempts = 2;
        Options.Models.BenchmarkWarmupRuns = 1;
        Options.Models.BenchmarkRuns = 5;
        configure?.Invoke(Options);

        var time = TimeProvider.System;
        Trust = TrustedKeyLoader.Load(Options.Models.TrustedKeys);
        Store = new ModelSlotStore(StateDirectory);
        var health = new ModelHealthCheck(Options.Models);
        Loader = new ActiveModelLoader(Options, Store, Trust, health, NullLogger<ActiveModelLoader>.Instance);
        Detectors = Loader.Load();
        Outbox = new OutboxStore(Path.Combine(StateDirectory, "outbox"), new OutboxOptions { Fsync = FsyncPolicy.Never }, time);
        _sequence = new SequenceCounter(StateDirectory);
        var upstream = new UpstreamWriter(Options, _sequence, Outbox, time);
        Reporter = new AssignmentReporter(upstream, Detectors, Store)
        {
            Reported = ack =>
            {
                lock (_acks)
                {
                    _acks.Add(ack);
                }
            },
        };
        var throttle = new ThrottleMonitor(new DeviceHealth(new DeviceHealthPaths(), time), Options.Telemetry, time);
        Http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var downloader = new ModelDownloader(Http, Options.Models, time, NullLogger<ModelDownloader>.Instance);
        Service = new ModelAssignmentService(
            Options, Store, Trust, downloader, health, Detectors, Loader, Reporter, throttle, time, NullLogger<ModelAssignmentService>.Instance, Shadow);
        Handler = new ModelAssignmentHandler(Options, Service, Reporter, NullLogger<ModelAssignmentHandler>.Instance);
    }

    public string StateDirectory { get; }

    public EdgeAgentOptions Options { get; }

    public ManifestTrust Trust { get; }

    public ModelSlotStore Store { get; }

    public ActiveModelLoader Loader { get; }

    public RunningDetector Detectors { get; }

    public OutboxStore Outbox { get; }

    public AssignmentReporter Reporter { get; }

    public HttpClient Http { get; }

    /// <summary>The candidate a shadow assignment runs beside the active model.</summary>
    public YoloFleet.EdgeAgent.Shadow.ShadowCandidate Shadow { get; } = new();

    public ModelAssignmentService Service { get; }

    public ModelAssignmentHandler Handler { get; }

    public List<ModelAssignmentAcknowledged> Acks
    {
        get
        {
            lock (_acks)
            {
                return [.. _acks];
            }
        }
    }

    public Task StartAsync() => Service.StartAsync(CancellationToken.None);

    /// <summary>Delivers the assignment as the broker would: its encoded bytes, through the handler.</summary>
    public Task DeliverAsync(ModelAssigned assignment) => DeliverAsync(assignment.ToByteArray());

    public Task DeliverAsync(byte[] payload) => Handler.HandleAsync(new ReadOnlySequence<byte>(payload), CancellationToken.None);

    /// <summary>Waits (bounded) for an acknowledgement matching <paramref name="match"/>; fails the test with what came instead.</summary>
    public async Task<ModelAssignmentAcknowledged> WaitForAckAsync(Func<ModelAssignmentAcknowledged, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (Acks.FirstOrDefault(match) is { } ack)
            {
                return ack;
            }

            await Task.Delay(20);
        }

        Assert.Fail("no matching acknowledgement; got: " + string.Join(" | ", Acks.Select(a => $"{a.Stage} {a.ReasonCode} {a.Sha256[..Math.Min(8, a.Sha256.Length)]} {a.Error}")));
        return null!;
    }

    /// <summary>The final acknowledgement of an assignment (a stage after which nothing more is reported for it).</summary>
    public Task<ModelAssignmentAcknowledged> WaitForOutcomeAsync(string assignmentId, TimeSpan? timeout = null) =>
        WaitForAckAsync(ack => ack.AssignmentId == assignmentId && ack.Stage is "activated" or "rejected" or "rolled-back" or "benchmarked" or "shadowing" or "failed", timeout);

    public async ValueTask DisposeAsync()
    {
        await Service.StopAsync(CancellationToken.None);
        Service.Dispose();
        Detectors.Dispose();
        Shadow.Dispose();
        Outbox.Dispose();
        _sequence.Dispose();
        Trust.Dispose();
        Http.Dispose();
    }
}
