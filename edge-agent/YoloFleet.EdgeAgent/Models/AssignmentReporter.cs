using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Outbox;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// Sends ModelAssignmentAcknowledged messages (topic .../ack) through the outbox like every upstream message, so a
/// refusal or an activation reported while the link is down reaches the cloud once it is back. Each carries what the
/// device runs at that moment (slot A) and its slot B.
/// </summary>
public sealed class AssignmentReporter(UpstreamWriter upstream, RunningDetector detectors, ModelSlotStore slots)
{
    /// <summary>Detail text is cut to this many characters, so that every acknowledgement fits its payload limit.</summary>
    public const int MaxErrorLength = 1024;

    /// <summary>Called after each acknowledgement was stored in the outbox (tests record them).</summary>
    public Action<ModelAssignmentAcknowledged>? Reported { get; set; }

    public ModelAssignmentAcknowledged Report(
        string assignmentId, string stage, bool accepted, string sha256 = "", string reasonCode = "", string error = "",
        IEnumerable<VariantBenchmark>? benchmarks = null, string cpuFeatures = "")
    {
        var ack = new ModelAssignmentAcknowledged
        {
            AssignmentId = assignmentId,
            Stage = stage,
            Accepted = accepted,
            Sha256 = sha256,
            ReasonCode = reasonCode,
            Error = error.Length <= MaxErrorLength ? error : error[..MaxErrorLength],
            CpuFeatures = cpuFeatures,
            ActiveSha256 = detectors.Model.Sha256,
            CandidateSha256 = slots.State.Candidate?.Sha256 ?? "",
        };
        if (benchmarks is not null)
        {
            ack.Benchmarks.AddRange(benchmarks);
        }

        upstream.Append(Topics.AckKind, ack, envelope => ack.Envelope = envelope);
        Reported?.Invoke(ack);
        return ack;
    }
}
