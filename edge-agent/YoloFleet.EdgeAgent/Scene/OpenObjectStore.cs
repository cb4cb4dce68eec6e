using System.Text.Json;
using Google.Protobuf;
using YoloFleet.Contracts.Wire;
using YoloFleet.EdgeAgent.Models;

namespace YoloFleet.EdgeAgent.Scene;

/// <summary>
/// The objects the agent has started and not yet ended, in a small file in its state folder
/// (<see cref="FileName"/>), written atomically (<see cref="DurableFiles"/>) whenever the set or an object's latest event
/// changes. After a crash or a power cut the next start reads it and ends each object properly (an
/// <c>ObjectEventPublished</c> of kind Ended, marked recovered), so the cloud never keeps an object open for ever and
/// never sees a second start for it: a restarted tracker makes new objects with new ids.
/// </summary>
/// <remarks>
/// Each object is kept as its latest event (protobuf, without its picture), so the end made at the next start carries
/// the object's whole story so far. A damaged file is set aside (renamed with ".damaged") and counts as empty: its
/// objects then stay open in the cloud, which is logged, never a reason not to start.
/// </remarks>
public sealed class OpenObjectStore
{
    public const string FileName = "scene-objects.json";

    private readonly string _path;
    private readonly SortedDictionary<ulong, ObjectEventPublished> _open = [];

    public OpenObjectStore(string stateDirectory)
    {
        Directory.CreateDirectory(stateDirectory);
        _path = Path.Combine(stateDirectory, FileName);
        Load();
    }

    /// <summary>Why the file could not be read at start ("" when it was fine or absent).</summary>
    public string LoadError { get; private set; } = "";

    /// <summary>The objects open now, by object id: each one's latest event.</summary>
    public IReadOnlyCollection<ObjectEventPublished> Open => _open.Values;

    /// <summary>Records an object's latest event (a start or update keeps it open, an end removes it); <see cref="Save"/> writes it.</summary>
    public void Record(ObjectEventPublished latest)
    {
        ArgumentNullException.ThrowIfNull(latest);
        if (latest.Kind == ObjectEventKind.Ended)
        {
            _open.Remove(latest.ObjectId);
            return;
        }

        var kept = latest.Clone();
        kept.BestCropJpeg = ByteString.Empty;
        kept.Envelope = null;
        _open[latest.ObjectId] = kept;
    }

    /// <summary>Writes the open objects (atomically: the old file or the new one survives a power cut, never a mix).</summary>
    public void Save()
    {
        var file = new StoredObjects { Open = [.. _open.Values.Select(e => Convert.ToBase64String(e.ToByteArray()))] };
        DurableFiles.WriteAllBytes(_path, JsonSerializer.SerializeToUtf8Bytes(file));
    }

    private void Load()
    {
        if (!File.Exists(_path))
        {
            return;
        }

        try
        {
            var file = JsonSerializer.Deserialize<StoredObjects>(File.ReadAllBytes(_path)) ?? new StoredObjects();
            foreach (var item in file.Open)
            {
                var stored = ObjectEventPublished.Parser.ParseFrom(Convert.FromBase64String(item));
                _open[stored.ObjectId] = stored;
            }
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidProtocolBufferException)
        {
            _open.Clear();
            LoadError = $"{_path} is damaged ({ex.Message}); set aside as {FileName}.damaged, the objects it held stay open in the cloud";
            File.Move(_path, _path + ".damaged", overwrite: true);
        }
    }

    private sealed class StoredObjects
    {
        public List<string> Open { get; set; } = [];
    }
}
