using System.Text.Json;
using System.Text.RegularExpressions;
using YoloFleet.Inference.Manifest;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>
/// The model slots on disk, under <c>{StateDirectory}/models/</c>:
/// <code>
/// slots.json                  which installed model is slot A (active) and which slot B (candidate): SlotState
/// slots/{sha256}/manifest.json  the signed manifest, byte for byte as the cloud sent it
/// slots/{sha256}/{file}.onnx    the model file it describes
/// downloads/{sha256}.part       a download in progress (resumed with an HTTP Range request)
/// downloads/{sha256}.onnx       a finished, verified download not yet in a slot (a benchmarked variant)
/// assignment.json             the last assignment finished, so a retained one is not redone
/// </code>
/// Every change is made durable in an order that leaves a usable state at any instant: a slot folder is written under
/// "{sha256}.tmp", flushed and renamed; the state file is replaced through write, fsync, rename and fsync of the
/// folder. <see cref="Recover"/> removes what a crash left half done. A slot is trusted only after
/// <see cref="Check"/> verified its manifest's signature and its file's size and SHA-256.
/// </summary>
public sealed partial class ModelSlotStore
{
    public const string FolderName = "models";
    public const string ManifestFileName = "manifest.json";
    private const string TemporarySuffix = ".tmp";

    public ModelSlotStore(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        Root = Path.Combine(Path.GetFullPath(stateDirectory), FolderName);
        SlotsFolder = Path.Combine(Root, "slots");
        DownloadsFolder = Path.Combine(Root, "downloads");
        StatePath = Path.Combine(Root, "slots.json");
        AssignmentPath = Path.Combine(Root, "assignment.json");
    }

    public string Root { get; }

    public string SlotsFolder { get; }

    public string DownloadsFolder { get; }

    public string StatePath { get; }

    public string AssignmentPath { get; }

    /// <summary>The state as last read or saved.</summary>
    public SlotState State { get; private set; } = SlotState.Empty;

    /// <summary>Why the state file could not be read at the last <see cref="Recover"/>; null when it was fine or absent.</summary>
    public string? StateProblem { get; private set; }

    /// <summary>The last assignment finished, or null.</summary>
    public AssignmentRecord? LastAssignment { get; private set; }

    /// <summary>
    /// After a start (or a crash): creates the folders, removes temporary files and folders, reads the state and the
    /// last assignment, and removes slot folders the state does not name. Returns one line per thing it removed.
    /// A state file that cannot be read is reported in <see cref="StateProblem"/> and read as empty (the factory
    /// model runs); the slot folders are then kept for inspection.
    /// </summary>
    public IReadOnlyList<string> Recover()
    {
        Directory.CreateDirectory(SlotsFolder);
        Directory.CreateDirectory(DownloadsFolder);
        var removed = new List<string>();
        foreach (var temporary in Directory.EnumerateDirectories(SlotsFolder, "*" + TemporarySuffix))
        {
            Directory.Delete(temporary, recursive: true);
            removed.Add($"unfinished slot folder {Path.GetFileName(temporary)}");
        }

        // Only the store's own files: the operator may keep the factory model in this folder too.
        foreach (var temporary in new[] { StatePath + TemporarySuffix, AssignmentPath + TemporarySuffix })
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
                removed.Add($"unfinished file {Path.GetFileName(temporary)}");
            }
        }

        StateProblem = null;
        State = SlotState.Empty;
        if (File.Exists(StatePath))
        {
            try
            {
                State = JsonSerializer.Deserialize(File.ReadAllBytes(StatePath), SlotStateJsonContext.Default.SlotState)
                    ?? throw new JsonException("the file holds null");
                if (State.SchemaVersion != SlotState.CurrentSchemaVersion)
                {
                    throw new JsonException($"schema version {State.SchemaVersion}; this agent reads {SlotState.CurrentSchemaVersion}");
                }
            }
            catch (Exception ex) when (ex is JsonException or IOException or NotSupportedException)
            {
                StateProblem = $"the slot state '{StatePath}' cannot be read ({ex.Message})";
                State = SlotState.Empty;
            }
        }

        LastAssignment = null;
        if (File.Exists(AssignmentPath))
        {
            try
            {
                LastAssignment = JsonSerializer.Deserialize(File.ReadAllBytes(AssignmentPath), SlotStateJsonContext.Default.AssignmentRecord);
            }
            catch (Exception ex) when (ex is JsonException or IOException or NotSupportedException)
            {
                // Losing it only means the last assignment is checked again; everything it installed verifies anew.
                removed.Add($"unreadable assignment record ({ex.Message})");
                File.Delete(AssignmentPath);
            }
        }

        if (StateProblem is null)
        {
            removed.AddRange(RemoveUnreferencedSlots());
        }

        return removed;
    }

    public string SlotFolder(string sha256) => Path.Combine(SlotsFolder, sha256.ToLowerInvariant());

    public string ModelPathOf(SlotEntry entry) => Path.Combine(SlotFolder(entry.Sha256), entry.File);

    public string PartPath(string sha256) => Path.Combine(DownloadsFolder, sha256.ToLowerInvariant() + ".part");

    public string DownloadedPath(string sha256) => Path.Combine(DownloadsFolder, sha256.ToLowerInvariant() + ".onnx");

    /// <summary>
    /// Verifies an installed slot: its manifest's signature against <paramref name="trust"/>, that the manifest describes
    /// the model the state names, and the file's size and SHA-256. Nothing unverified is ever run.
    /// </summary>
    public SlotCheck Check(SlotEntry entry, ManifestTrust trust)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(trust);
        var manifestPath = Path.Combine(SlotFolder(entry.Sha256), ManifestFileName);
        var modelPath = ModelPathOf(entry);
        if (!File.Exists(manifestPath) || !File.Exists(modelPath))
        {
            return new SlotCheck(entry, null, new ManifestRejection(
                ModelReasonCodes.Missing, $"slot {entry.Sha256[..12]} lacks its {(File.Exists(manifestPath) ? "model file" : "manifest")}"));
        }

        var manifestJson = File.ReadAllBytes(manifestPath);
        var rejection = trust.Verify(manifestJson, out var manifest);
        if (rejection is null && !string.Equals(manifest!.Model.Sha256, entry.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            rejection = new ManifestRejection(ManifestRejection.HashMismatch,
                $"slot {entry.Sha256[..12]} holds the manifest of another model ({manifest.Model.Sha256[..12]})");
        }

        rejection ??= ManifestTrust.VerifyFile(manifest!, modelPath);
        return rejection is null
            ? new SlotCheck(entry, new InstalledModel(entry, modelPath, manifest!), null)
            : new SlotCheck(entry, null, rejection);
    }

    /// <summary>
    /// Installs a verified model file and its signed manifest as the slot folder of its SHA-256, moving the file in.
    /// The folder is complete and flushed before it gets its final name, so a crash leaves no half slot. An existing
    /// folder for the same SHA-256 that verifies is kept (the file is then not needed).
    /// </summary>
    public SlotEntry Install(string verifiedModelFile, ReadOnlySpan<byte> manifestJson, ModelManifest manifest, string assignmentId, ManifestTrust trust)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var sha256 = manifest.Model.Sha256.ToLowerInvariant();
        var entry = new SlotEntry
        {
            Sha256 = sha256,
            File = SafeFileName(manifest.Model.File),
            Version = $"{manifest.Name}@{manifest.Version}",
            AssignmentId = assignmentId,
            Status = SlotStatus.Installed,
        };
        var folder = SlotFolder(sha256);
        if (Directory.Exists(folder))
        {
            if (Check(entry, trust).Model is not null)
            {
                return entry;
            }

            Directory.Delete(folder, recursive: true);
        }

        var temporary = folder + TemporarySuffix;
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        DurableFiles.WriteAllBytes(Path.Combine(temporary, ManifestFileName), manifestJson);
        var modelPath = Path.Combine(temporary, entry.File);
        File.Move(verifiedModelFile, modelPath);
        DurableFiles.FlushFile(modelPath);
        DurableFiles.FlushDirectory(temporary);
        DurableFiles.FlushDirectory(DownloadsFolder);
        SwapCrashHook.At(SwapCrashHook.MidSlotRename);
        Directory.Move(temporary, folder);
        DurableFiles.FlushDirectory(SlotsFolder);
        return entry;
    }

    /// <summary>
    /// Replaces the state file durably, then removes slot folders it no longer names.
    /// <paramref name="crashStep"/> names the test-only crash hook step between its write and its rename.
    /// </summary>
    public void Save(SlotState state, string? crashStep = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        Directory.CreateDirectory(Root);
        var json = JsonSerializer.SerializeToUtf8Bytes(state, SlotStateJsonContext.Default.SlotState);
        DurableFiles.WriteAllBytes(StatePath, json, crashStep is null ? null : () => SwapCrashHook.At(crashStep));
        State = state;
        StateProblem = null;
        RemoveUnreferencedSlots();
    }

    public void SaveAssignment(AssignmentRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Directory.CreateDirectory(Root);
        DurableFiles.WriteAllBytes(AssignmentPath, JsonSerializer.SerializeToUtf8Bytes(record, SlotStateJsonContext.Default.AssignmentRecord));
        LastAssignment = record;
    }

    /// <summary>Removes downloads (finished or partial) of every model but those in <paramref name="keep"/>.</summary>
    public void PruneDownloads(IReadOnlyCollection<string> keep)
    {
        if (!Directory.Exists(DownloadsFolder))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(DownloadsFolder))
        {
            var sha = Path.GetFileNameWithoutExtension(file);
            if (!keep.Contains(sha, StringComparer.OrdinalIgnoreCase))
            {
                File.Delete(file);
            }
        }
    }

    private List<string> RemoveUnreferencedSlots()
    {
        var removed = new List<string>();
        if (!Directory.Exists(SlotsFolder))
        {
            return removed;
        }

        var referenced = new[] { State.Active?.Sha256, State.Candidate?.Sha256 }.OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var folder in Directory.EnumerateDirectories(SlotsFolder))
        {
            var name = Path.GetFileName(folder);
            if (!name.EndsWith(TemporarySuffix, StringComparison.Ordinal) && !referenced.Contains(name))
            {
                Directory.Delete(folder, recursive: true);
                removed.Add($"slot folder {name[..Math.Min(12, name.Length)]} named by no slot");
            }
        }

        DurableFiles.FlushDirectory(SlotsFolder);
        return removed;
    }

    /// <summary>The manifest's file name where it is a plain one; "model.onnx" otherwise (it must never leave the slot folder).</summary>
    internal static string SafeFileName(string file) =>
        PlainFileName().IsMatch(file) && file != ManifestFileName && !file.EndsWith(TemporarySuffix, StringComparison.Ordinal) ? file : "model.onnx";

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex PlainFileName();
}

/// <summary>What <see cref="ModelSlotStore.Check"/> found: the verified model, or why not.</summary>
public sealed record SlotCheck(SlotEntry Entry, InstalledModel? Model, ManifestRejection? Rejection);

/// <summary>A slot that verified: the model's path and its signed manifest.</summary>
public sealed record InstalledModel(SlotEntry Entry, string ModelPath, ModelManifest Manifest);
