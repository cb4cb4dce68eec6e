using YoloFleet.Inference.Manifest;

namespace YoloFleet.EdgeAgent.Models;

/// <summary>Turns <see cref="ModelOptions.TrustedKeys"/> (PEM text or PEM file paths) into the agent's <see cref="ManifestTrust"/>.</summary>
public static class TrustedKeyLoader
{
    private const string PemMarker = "-----BEGIN";

    /// <exception cref="ArgumentException">An entry is neither a public key in PEM nor a readable file holding one; the message names it.</exception>
    public static ManifestTrust Load(IEnumerable<string> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var pems = new List<string>();
        foreach (var entry in entries.Where(entry => !string.IsNullOrWhiteSpace(entry)))
        {
            if (entry.Contains(PemMarker, StringComparison.Ordinal))
            {
                pems.Add(entry);
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(entry);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new ArgumentException($"'{entry}' is neither a PEM public key nor a readable PEM file ({ex.Message}).", nameof(entries), ex);
            }

            if (!text.Contains(PemMarker, StringComparison.Ordinal))
            {
                throw new ArgumentException($"The file '{entry}' holds no PEM public key.", nameof(entries));
            }

            pems.Add(text);
        }

        return new ManifestTrust(pems);
    }
}
