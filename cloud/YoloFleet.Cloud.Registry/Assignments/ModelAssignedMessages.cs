using System.Text;
using Google.Protobuf;
using YoloFleet.Cloud.Registry.Models;
using YoloFleet.Cloud.Registry.Signing;
using YoloFleet.Contracts;
using YoloFleet.Contracts.Wire;

namespace YoloFleet.Cloud.Registry.Assignments;

/// <summary>Where devices reach this cloud's HTTP API (Cloud:Models:PublicBaseUrl, else the silo's own address).</summary>
public interface IPublicBaseUrl
{
    Uri BaseUrl { get; }
}

/// <summary>A fixed base URL (configuration, tests).</summary>
public sealed class FixedPublicBaseUrl(Uri baseUrl) : IPublicBaseUrl
{
    public Uri BaseUrl { get; } = baseUrl;
}

/// <summary>
/// Builds a device's retained ModelAssigned from its assignment row: every variant of the version with its signed
/// manifest and a download URL that carries that device's token, and the chosen variant when there is one.
/// </summary>
public sealed class ModelAssignedMessages(ModelStore models, DownloadTokens tokens, IPublicBaseUrl baseUrl)
{
    /// <exception cref="ModelRegistryException">A variant the row names is gone, or the message would exceed the protocol's limit.</exception>
    public async Task<ModelAssigned> BuildAsync(ModelAssignmentRow row, CancellationToken cancellationToken = default)
    {
        var message = new ModelAssigned
        {
            SchemaVersion = SchemaVersions.Current,
            AssignmentId = row.AssignmentId,
            ModelVersion = row.ModelName + "@" + row.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Slot = row.Slot,
            SelectedSha256 = row.SelectedSha256 ?? "",
            AssignedAtUnixMs = row.CreatedAt.ToUnixTimeMilliseconds(),
            MaxLatencyMs = row.MaxLatencyMs,
        };
        foreach (var id in new[] { row.Fp32VariantId, row.Int8VariantId })
        {
            if (id is not { } variantId)
            {
                continue;
            }

            var variant = await models.FindByIdAsync(variantId, cancellationToken)
                ?? throw new ModelRegistryException(RegistryErrorKind.Conflict, $"Variant {variantId} of assignment {row.AssignmentId} is no longer registered.");
            message.Variants.Add(new ModelVariant
            {
                ManifestJson = ByteString.CopyFrom(Encoding.UTF8.GetBytes(variant.ManifestJson)),
                DownloadUrl = DownloadUrl(row.DeviceId, variant.Sha256, row.TokenExpiresAt),
            });
        }

        var size = message.CalculateSize();
        return size <= ProtocolLimits.MaxModelAssignedPayloadBytes
            ? message
            : throw new ModelRegistryException(RegistryErrorKind.Invalid,
                $"The assignment message for {row.DeviceId} would be {size} bytes, over the protocol's {ProtocolLimits.MaxModelAssignedPayloadBytes}; shorten the manifests (class names, source).");
    }

    /// <summary>The artifact's URL for one device: GET /api/artifacts/{sha256} with the device's token.</summary>
    public string DownloadUrl(string deviceId, string sha256, DateTimeOffset expires) =>
        new Uri(baseUrl.BaseUrl, "api/artifacts/" + sha256.ToLowerInvariant() + "?" + tokens.QueryFor(deviceId, sha256, expires)).ToString();
}
