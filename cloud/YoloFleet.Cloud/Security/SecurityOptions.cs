using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud.Security;

/// <summary>
/// Configuration section "Cloud:Security": who may use the embedded MQTT broker (Cloud:EmbeddedBroker). An external
/// broker (mosquitto) enforces the same rules with deploy/mosquitto/production.conf and production.acl.
/// </summary>
public sealed class BrokerSecurityOptions : IValidatableObject
{
    public const string Section = "Cloud:Security";

    /// <summary>A mosquitto_passwd file: user names with PBKDF2-SHA512 hashes. Devices log in with their device id.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// Let clients connect without credentials, with no topic restrictions. Off by default; only for the demo and
    /// tests on loopback. Clients that do send credentials are still checked and confined.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    public const string DefaultCloudUser = "yolofleet-cloud";

    /// <summary>
    /// User names of the cloud's own accounts (the silos): they may use the whole yolofleet/v1/ tree. Empty means
    /// "yolofleet-cloud" alone (the configuration binder appends to a non-empty default, so the default is applied here).
    /// </summary>
    public string[] CloudUsers { get; set; } = [];

    public IReadOnlyList<string> EffectiveCloudUsers => CloudUsers.Length > 0 ? CloudUsers : [DefaultCloudUser];

    /// <summary>Require a device's MQTT client id to equal its user name, so one device cannot take over another's session.</summary>
    public bool RequireClientIdMatchesUser { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(PasswordFile) && !File.Exists(PasswordFile))
        {
            yield return new ValidationResult(
                $"Cloud:Security:PasswordFile '{PasswordFile}' does not exist (create it with mosquitto_passwd -c FILE USER).", [nameof(PasswordFile)]);
        }
        else if (!string.IsNullOrEmpty(PasswordFile))
        {
            string? error = null;
            try
            {
                Security.PasswordFile.Load(PasswordFile);
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
            {
                error = ex.Message;
            }

            if (error is not null)
            {
                yield return new ValidationResult($"Cloud:Security:PasswordFile: {error}", [nameof(PasswordFile)]);
            }
        }
    }

    /// <summary>The embedded broker cannot start without a way to decide who gets in.</summary>
    public string? ProblemForEmbeddedBroker() =>
        string.IsNullOrEmpty(PasswordFile) && !AllowAnonymous
            ? "Cloud:EmbeddedBroker is enabled but Cloud:Security:PasswordFile is not set: provision credentials with mosquitto_passwd (see docs/security.md), or set Cloud:Security:AllowAnonymous=true for a loopback demo."
            : null;
}

/// <summary>
/// Configuration section "Cloud:Api": operator API authentication. Two roles: keys in <see cref="KeyHashes"/> operate
/// (every request), keys in <see cref="ReaderKeyHashes"/> only read (GET and HEAD); docs/security.md.
/// </summary>
public sealed class ApiSecurityOptions : IValidatableObject
{
    public const string Section = "Cloud:Api";

    /// <summary>
    /// SHA-256 hashes (64 hex digits, optionally prefixed "sha256:") of the operator keys, which may also change state;
    /// mint one with `yolofleet apikey`. (The name predates the read-only role and is kept so configurations stay valid.)
    /// </summary>
    public string[] KeyHashes { get; set; } = [];

    /// <summary>Hashes of read-only keys: GET and HEAD under /api and the OpenAPI document; mint one with `yolofleet apikey --role reader`.</summary>
    public string[] ReaderKeyHashes { get; set; } = [];

    /// <summary>Serve /api without a key, with the operator role. Off by default; never on a listener beyond loopback.</summary>
    public bool AllowAnonymous { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var operators = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < KeyHashes.Length; i++)
        {
            if (!ApiKeys.TryParseHash(KeyHashes[i], out var hash))
            {
                yield return new ValidationResult(
                    $"Cloud:Api:KeyHashes:{i} is not a SHA-256 hash (64 hex digits, optionally 'sha256:'); mint a key with `yolofleet apikey`.",
                    [nameof(KeyHashes)]);
            }
            else
            {
                operators.Add(Convert.ToHexString(hash));
            }
        }

        for (var i = 0; i < ReaderKeyHashes.Length; i++)
        {
            if (!ApiKeys.TryParseHash(ReaderKeyHashes[i], out var hash))
            {
                yield return new ValidationResult(
                    $"Cloud:Api:ReaderKeyHashes:{i} is not a SHA-256 hash (64 hex digits, optionally 'sha256:'); mint a key with `yolofleet apikey --role reader`.",
                    [nameof(ReaderKeyHashes)]);
            }
            else if (operators.Contains(Convert.ToHexString(hash)))
            {
                yield return new ValidationResult(
                    $"Cloud:Api:ReaderKeyHashes:{i} is also in Cloud:Api:KeyHashes: a key has one role; remove it from one of the two lists.",
                    [nameof(ReaderKeyHashes)]);
            }
        }
    }
}
