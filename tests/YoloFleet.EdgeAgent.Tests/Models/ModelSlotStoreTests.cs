using System.Text;
using YoloFleet.EdgeAgent.Models;
using YoloFleet.Inference.Manifest;
using YoloFleet.Integration.Tests.Infrastructure;

namespace YoloFleet.EdgeAgent.Tests.Models;

/// <summary>
/// The slots on disk: what a crash can leave at each point of a change (a temporary slot folder, a state file written
/// but not renamed, a torn state file) and how the store reads it back; and what makes a slot fail verification.
/// </summary>
public sealed class ModelSlotStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "yf-slots-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly TestModelSigner _signer = new();
    private readonly ManifestTrust _trust;

    public ModelSlotStoreTests()
    {
        Directory.CreateDirectory(_directory);
        _trust = new ManifestTrust([_signer.PublicKeyPem]);
    }

    public void Dispose()
    {
        _trust.Dispose();
        _signer.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void An_installed_slot_verifies_and_the_saved_state_survives_a_restart()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var entry = Install(store, "a.onnx", 0.01f);
        store.Save(new SlotState { Active = entry with { Status = SlotStatus.Active } });

        var reopened = new ModelSlotStore(_directory);
        Assert.Empty(reopened.Recover());
        Assert.Null(reopened.StateProblem);
        Assert.Equal(entry.Sha256, reopened.State.Active!.Sha256);
        var check = reopened.Check(reopened.State.Active, _trust);
        Assert.Null(check.Rejection);
        Assert.Equal(Path.Combine(reopened.SlotFolder(entry.Sha256), "a.onnx"), check.Model!.ModelPath);

        // The downloaded file was moved into the slot, not copied.
        Assert.Empty(Directory.GetFiles(store.DownloadsFolder));
    }

    [Fact]
    public void A_crash_before_the_slot_folder_is_renamed_leaves_a_temporary_folder_that_recovery_removes()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var active = Install(store, "a.onnx", 0.01f);
        store.Save(new SlotState { Active = active with { Status = SlotStatus.Active } });

        // What Install leaves when the process dies before its rename: a complete folder under the temporary name.
        var unfinished = store.SlotFolder(new string('e', 64)) + ".tmp";
        Directory.CreateDirectory(unfinished);
        File.WriteAllText(Path.Combine(unfinished, ModelSlotStore.ManifestFileName), "{}");
        File.WriteAllBytes(Path.Combine(unfinished, "b.onnx"), [1, 2, 3]);

        var removed = new ModelSlotStore(_directory).Recover();

        Assert.Contains(removed, line => line.Contains("unfinished slot folder", StringComparison.Ordinal));
        Assert.False(Directory.Exists(unfinished));
        Assert.Null(store.Check(active, _trust).Rejection);
    }

    [Fact]
    public void A_crash_between_writing_the_new_state_and_its_rename_keeps_the_old_state_and_drops_the_new_slot()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var active = Install(store, "a.onnx", 0.01f) with { Status = SlotStatus.Active };
        store.Save(new SlotState { Active = active });
        var candidate = Install(store, "b.onnx", 0.02f);

        // The new state reached its temporary file, and the rename never happened.
        var newState = new SlotState { Active = active, Candidate = candidate };
        File.WriteAllBytes(store.StatePath + ".tmp", Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(newState)));

        var reopened = new ModelSlotStore(_directory);
        var removed = reopened.Recover();

        Assert.Equal(active.Sha256, reopened.State.Active!.Sha256);
        Assert.Null(reopened.State.Candidate);
        Assert.False(File.Exists(store.StatePath + ".tmp"));
        Assert.False(Directory.Exists(store.SlotFolder(candidate.Sha256)), "a slot no state names is removed");
        Assert.Equal(2, removed.Count);
        Assert.Null(reopened.Check(active, _trust).Rejection);
    }

    [Fact]
    public void A_crash_after_the_rename_finds_the_new_state_whole()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var active = Install(store, "a.onnx", 0.01f) with { Status = SlotStatus.Active };
        var candidate = Install(store, "b.onnx", 0.02f);
        store.Save(new SlotState { Active = active, Candidate = candidate });

        var reopened = new ModelSlotStore(_directory);
        Assert.Empty(reopened.Recover());
        Assert.Equal(candidate.Sha256, reopened.State.Candidate!.Sha256);
        Assert.Equal(SlotStatus.Installed, reopened.State.Candidate.Status);
        Assert.Null(reopened.Check(reopened.State.Candidate, _trust).Rejection);
    }

    [Fact]
    public void A_torn_state_file_is_reported_read_as_empty_and_the_slots_are_kept()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var active = Install(store, "a.onnx", 0.01f) with { Status = SlotStatus.Active };
        store.Save(new SlotState { Active = active });
        var json = File.ReadAllBytes(store.StatePath);
        File.WriteAllBytes(store.StatePath, json[..(json.Length / 2)]);

        var reopened = new ModelSlotStore(_directory);
        reopened.Recover();

        Assert.NotNull(reopened.StateProblem);
        Assert.Contains("cannot be read", reopened.StateProblem, StringComparison.Ordinal);
        Assert.Null(reopened.State.Active);
        Assert.True(Directory.Exists(store.SlotFolder(active.Sha256)), "the slots are kept for inspection");
    }

    [Fact]
    public void A_slot_does_not_verify_once_its_file_manifest_or_signer_changed()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var entry = Install(store, "a.onnx", 0.01f);
        var model = store.ModelPathOf(entry);
        var manifest = Path.Combine(store.SlotFolder(entry.Sha256), ModelSlotStore.ManifestFileName);

        var bytes = File.ReadAllBytes(model);
        bytes[^5] ^= 0x40;
        File.WriteAllBytes(model, bytes);
        Assert.Equal(ManifestRejection.HashMismatch, store.Check(entry, _trust).Rejection!.Code);

        File.WriteAllBytes(model, bytes[..^1]);
        Assert.Equal(ManifestRejection.SizeMismatch, store.Check(entry, _trust).Rejection!.Code);

        using (var stranger = new TestModelSigner())
        using (var strangerTrust = new ManifestTrust([stranger.PublicKeyPem]))
        {
            Assert.Equal(ManifestRejection.UnknownKey, store.Check(entry, strangerTrust).Rejection!.Code);
        }

        var text = File.ReadAllText(manifest);
        File.WriteAllText(manifest, text.Replace("\"1.0.0\"", "\"6.6.6\"", StringComparison.Ordinal));
        Assert.Equal(ManifestRejection.BadSignature, store.Check(entry, _trust).Rejection!.Code);

        File.Delete(manifest);
        Assert.Equal(ModelReasonCodes.Missing, store.Check(entry, _trust).Rejection!.Code);
    }

    [Fact]
    public void A_manifest_file_name_cannot_place_the_model_outside_its_slot()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        var path = TinyModels.WriteYolox(store.DownloadsFolder, "x.onnx", 0.03f);
        var manifest = TestModelSigner.ManifestFor(path) with { Model = TestModelSigner.ManifestFor(path).Model with { File = ".." } };

        var entry = store.Install(path, _signer.SignedJson(manifest), manifest, "a1", _trust);

        Assert.Equal("model.onnx", entry.File);
        Assert.Null(store.Check(entry, _trust).Rejection);
    }

    [Fact]
    public void Downloads_of_other_models_are_pruned()
    {
        var store = new ModelSlotStore(_directory);
        store.Recover();
        File.WriteAllBytes(store.PartPath(new string('a', 64)), [1]);
        File.WriteAllBytes(store.DownloadedPath(new string('b', 64)), [2]);
        File.WriteAllBytes(store.PartPath(new string('c', 64)), [3]);

        store.PruneDownloads([new string('c', 64)]);

        Assert.Equal([Path.GetFileName(store.PartPath(new string('c', 64)))], Directory.GetFiles(store.DownloadsFolder).Select(Path.GetFileName));
    }

    private SlotEntry Install(ModelSlotStore store, string fileName, float fill)
    {
        var path = TinyModels.WriteYolox(store.DownloadsFolder, fileName, fill);
        var manifest = TestModelSigner.ManifestFor(path);
        return store.Install(path, _signer.SignedJson(manifest), manifest, "assignment-" + fileName, _trust);
    }
}
