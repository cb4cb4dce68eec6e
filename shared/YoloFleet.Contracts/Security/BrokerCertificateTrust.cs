using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace YoloFleet.Contracts.Security;

/// <summary>
/// How a client of the broker (an agent, a silo) decides to trust the broker's TLS certificate: it must chain to the
/// configured CA bundle (or to the system store when none is configured) and, unless turned off, name the host. One
/// piece for both sides, so a fix to TLS trust lands once.
/// </summary>
public static class BrokerCertificateTrust
{
    /// <summary>The CA certificates of a PEM file (a bundle may hold several).</summary>
    /// <exception cref="CryptographicException">The file holds no certificate.</exception>
    public static X509Certificate2Collection LoadCa(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        if (collection.Count == 0)
        {
            throw new CryptographicException("no certificate in the file");
        }

        return collection;
    }

    /// <summary>
    /// Accepts the broker's certificate when it chains to <paramref name="trustedCa"/> (or the system store without one)
    /// and, unless <paramref name="checkServerName"/> is off, names the host.
    /// </summary>
    public static bool Validate(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? trustedCa, bool checkServerName)
    {
        if (certificate is null)
        {
            return false;
        }

        if (!checkServerName)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }

        if (trustedCa is null)
        {
            return errors == SslPolicyErrors.None;
        }

        // The chain errors the platform reported were against the system store; judge the chain against our CA only.
        if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustedCa);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var server = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(server);
    }
}
