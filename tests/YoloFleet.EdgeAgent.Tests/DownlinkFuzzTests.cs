using System.Buffers;
using CsCheck;
using Google.Protobuf;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.EdgeAgent.Outbox;
using YoloFleet.Testing;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>
/// Property-based fuzzing of what an agent decodes from the cloud (commit confirmations, model assignments): thousands
/// of random and damaged payloads each are answered with a reason, never an exception, and what passes is within the
/// protocol's limits.
/// </summary>
[Trait("Category", "Security")]
public sealed class DownlinkFuzzTests
{
    [Fact]
    public void Damaged_commit_confirmations_are_refused_with_a_reason_or_read_within_the_limits()
    {
        var seed = new CommitsConfirmed
        {
            SchemaVersion = SchemaVersions.Current,
            Committed = { new SequenceRange { First = 1, Last = 40 }, new SequenceRange { First = 45, Last = 45 } },
            Refused = { new SequenceRange { First = 41, Last = 41 } },
            Resend = { new SequenceRange { First = 42, Last = 44 } },
            SentAtUnixMs = 1_700_000_000_000,
        }.ToByteArray();
        Assert.Null(CommitsHandler.Decode(new ReadOnlySequence<byte>(seed), out _));

        var (read, refused) = (0, 0);
        FuzzInputs.NoiseOrDamaged(seed).Sample(
            bytes =>
            {
                if (CommitsHandler.Decode(new ReadOnlySequence<byte>(bytes), out var message) is { } problem)
                {
                    Assert.False(string.IsNullOrWhiteSpace(problem));
                    refused++;
                    return;
                }

                foreach (var range in message.Committed.Concat(message.Refused).Concat(message.Resend))
                {
                    Assert.InRange(range.First, 1UL, range.Last);
                }

                read++;
            },
            iter: FuzzInputs.Iterations,
            threads: 1);

        Assert.True(refused > 0 && read > 0, $"read {read}, refused {refused}: both outcomes should be reached");
    }

    [Fact]
    public void Damaged_model_assignments_are_refused_with_a_reason_or_read_as_a_usable_assignment()
    {
        var seed = new ModelAssigned
        {
            SchemaVersion = SchemaVersions.Current,
            AssignmentId = "asg-0123456789abcdef",
            ModelVersion = "yolox_nano_416@3",
            Slot = ModelAssignmentDecoder.ShadowSlot,
            Variants =
            {
                new ModelVariant { ManifestJson = ByteString.CopyFromUtf8("{\"layout\":\"yolox\"}"), DownloadUrl = "https://cloud.example/api/artifacts/" + new string('a', 64) },
                new ModelVariant { ManifestJson = ByteString.CopyFromUtf8("{\"layout\":\"yolox\"}"), DownloadUrl = "https://cloud.example/api/artifacts/" + new string('b', 64) },
            },
            SelectedSha256 = new string('A', 64),
            AssignedAtUnixMs = 1_700_000_000_000,
            MaxLatencyMs = 80,
        }.ToByteArray();
        Assert.True(ModelAssignmentDecoder.TryDecode(new ReadOnlySequence<byte>(seed), allowHttp: false, out _, out _, out var seedProblem), seedProblem);

        var (read, refused) = (0, 0);
        FuzzInputs.NoiseOrDamaged(seed).Sample(
            bytes =>
            {
                if (!ModelAssignmentDecoder.TryDecode(new ReadOnlySequence<byte>(bytes), allowHttp: false, out var assignment, out var id, out var problem))
                {
                    Assert.False(string.IsNullOrWhiteSpace(problem));
                    Assert.True(id.Length <= ModelAssignmentDecoder.MaxAssignmentIdLength, "the id named in a refusal is bounded");
                    refused++;
                    return;
                }

                Assert.Contains(assignment.Slot, new[] { ModelAssignmentDecoder.ActiveSlot, ModelAssignmentDecoder.ShadowSlot });
                Assert.NotEmpty(assignment.Variants);
                Assert.All(assignment.Variants, v => Assert.StartsWith("https://", v.DownloadUrl, StringComparison.OrdinalIgnoreCase));
                Assert.True(assignment.SelectedSha256.Length is 0 or 64 && assignment.SelectedSha256 == assignment.SelectedSha256.ToLowerInvariant());
                read++;
            },
            iter: FuzzInputs.Iterations,
            threads: 1);

        Assert.True(refused > 0 && read > 0, $"read {read}, refused {refused}: both outcomes should be reached");
    }
}
