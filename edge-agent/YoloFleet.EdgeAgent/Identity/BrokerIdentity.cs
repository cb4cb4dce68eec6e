using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using YoloFleet.Contracts.Security;

namespace YoloFleet.EdgeAgent.Identity;

/// <summary>
/// The device's identity towards the broker: user name and password (the user name must be the device id, which the
/// broker's ACL confines to yolofleet/v1/devices/&lt;id&gt;/), or a client certificate whose subject CN is the device
/// id (mosquitto: use_identity_as_username), and the TLS settings that protect both.
/// </summary>
public static class BrokerIdentity
{
    /// <summary>Problems with Agent:Broker's credentials and TLS settings, each naming the setting and the fix.</summary>
    public static IEnumerable<string> Problems(EdgeAgentOptions options)
    {
        var broker = options.Broker;
        var tls = broker.Tls;
        if (!string.IsNullOrEmpty(broker.Password) && string.IsNullOrEmpty(broker.Username))
        {
            yield return $"Agent:Broker:Password is set without Agent:Broker:Username: set Agent:Broker:Username={options.DeviceId} (a device logs in with its device id).";
        }

        if (!string.IsNullOrEmpty(broker.Username) && string.IsNullOrEmpty(broker.Password))
        {
            yield return "Agent:Broker:Username is set without Agent:Broker:Password.";
        }

        if (!string.IsNullOrEmpty(broker.Username) && !string.Equals(broker.Username, options.DeviceId, StringComparison.Ordinal))
        {
            yield return $"Agent:Broker:Username '{broker.Username}' differs from Agent:DeviceId '{options.DeviceId}': the broker confines a device to the topics of its user name, so they must be equal.";
        }

        if (!tls.Enabled)
        {
            foreach (var (name, value) in new[] { ("CaFile", tls.CaFile), ("ClientCertificateFile", tls.ClientCertificateFile), ("ClientKeyFile", tls.ClientKeyFile) })
            {
                if (!string.IsNullOrEmpty(value))
                {
                    yield return $"Agent:Broker:Tls:{name} is set but Agent:Broker:Tls:Enabled is false: set Enabled=true (certificates need TLS).";
                }
            }

            yield break;
        }

        if (!string.IsNullOrEmpty(tls.CaFile))
        {
            if (!File.Exists(tls.CaFile))
            {
                yield return $"Agent:Broker:Tls:CaFile '{tls.CaFile}' does not exist.";
            }
            else if (TryLoad(() => LoadCa(tls.CaFile)) is { } error)
            {
                yield return $"Agent:Broker:Tls:CaFile '{tls.CaFile}' is not a PEM certificate: {error}";
            }
        }

        if (!string.IsNullOrEmpty(tls.ClientKeyFile) && string.IsNullOrEmpty(tls.ClientCertificateFile))
        {
            yield return "Agent:Broker:Tls:ClientKeyFile is set without Agent:Broker:Tls:ClientCertificateFile.";
        }

        if (!string.IsNullOrEmpty(tls.ClientCertificateFile))
        {
            if (!File.Exists(tls.ClientCertificateFile))
            {
                yield return $"Agent:Broker:Tls:ClientCertificateFile '{tls.ClientCertificateFile}' does not exist.";
            }
            else if (!string.IsNullOrEmpty(tls.ClientKeyFile) && !File.Exists(tls.ClientKeyFile))
            {
                yield return $"Agent:Broker:Tls:ClientKeyFile '{tls.ClientKeyFile}' does not exist.";
            }
            else if (TryLoad(() => LoadClientCertificate(tls)) is { } error)
            {
                yield return $"Agent:Broker:Tls:ClientCertificateFile '{tls.ClientCertificateFile}' cannot be loaded with its private key: {error}";
            }
        }
    }

    /// <summary>The CA certificates of a PEM file (a bundle may hold several).</summary>
    public static X509Certificate2Collection LoadCa(string path) => BrokerCertificateTrust.LoadCa(path);

    /// <summary>The client certificate with its private key (PFX/PKCS#12, or PEM with the key beside it or in the same file).</summary>
    public static X509Certificate2 LoadClientCertificate(BrokerTlsOptions tls)
    {
        var path = tls.ClientCertificateFile!;
        var isPfx = path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase);
        var certificate = isPfx
            ? X509CertificateLoader.LoadPkcs12FromFile(path, tls.ClientCertificatePassword)
            : string.IsNullOrEmpty(tls.ClientCertificatePassword)
                ? X509Certificate2.CreateFromPemFile(path, tls.ClientKeyFile)
                : X509Certificate2.CreateFromEncryptedPemFile(path, tls.ClientCertificatePassword, tls.ClientKeyFile);
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CryptographicException("the file has no private key");
        }

        // SslStream on Linux wants a certificate whose key it can use; a PKCS#12 round trip gives it one.
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
    }

    /// <summary>Accepts the broker's certificate: <see cref="BrokerCertificateTrust.Validate"/>, shared with the silo.</summary>
    public static bool ValidateServerCertificate(
        X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? trustedCa, bool checkServerName) =>
        BrokerCertificateTrust.Validate(certificate, errors, trustedCa, checkServerName);

    private static string? TryLoad(Func<object> load)
    {
        try
        {
            (load() as IDisposable)?.Dispose();
            return null;
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }
}

/// <summary>Runs <see cref="BrokerIdentity.Problems"/> with the other options checks at start.</summary>
public sealed class BrokerIdentityValidator : IValidateOptions<EdgeAgentOptions>
{
    public ValidateOptionsResult Validate(string? name, EdgeAgentOptions options)
    {
        var problems = BrokerIdentity.Problems(options).ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
