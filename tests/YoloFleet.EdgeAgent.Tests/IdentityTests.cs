using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using YoloFleet.EdgeAgent.Identity;

namespace YoloFleet.EdgeAgent.Tests;

/// <summary>The agent's broker identity settings are checked at start, naming the bad setting; the TLS trust rules hold.</summary>
public sealed class IdentityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("yf-identity-").FullName;

    // Options validation only checks that the model file exists.
    public IdentityTests() => File.WriteAllBytes(Path.Combine(_directory, "model.onnx"), [0]);

    [Theory]
    [InlineData("Agent:Broker:Password", "pw", null, null, "Agent:Broker:Username=pi-01")]
    [InlineData("Agent:Broker:Username", "pi-01", null, null, "Agent:Broker:Password")]
    [InlineData("Agent:Broker:Username", "pi-02", "Agent:Broker:Password", "pw", "differs from Agent:DeviceId")]
    [InlineData("Agent:Broker:Tls:CaFile", "/etc/hostname", null, null, "Agent:Broker:Tls:Enabled is false")]
    [InlineData("Agent:Broker:Tls:Enabled", "true", "Agent:Broker:Tls:CaFile", "/nonexistent/ca.crt", "Agent:Broker:Tls:CaFile '/nonexistent/ca.crt' does not exist")]
    [InlineData("Agent:Broker:Tls:Enabled", "true", "Agent:Broker:Tls:ClientCertificateFile", "/nonexistent/pi.crt", "ClientCertificateFile '/nonexistent/pi.crt' does not exist")]
    [InlineData("Agent:Broker:Tls:Enabled", "true", "Agent:Broker:Tls:ClientKeyFile", "/etc/hostname", "ClientKeyFile is set without")]
    public void A_bad_identity_setting_stops_the_agent_and_names_it(string key, string value, string? key2, string? value2, string named)
    {
        var settings = ValidSettings();
        settings[key] = value;
        if (key2 is not null)
        {
            settings[key2] = value2;
        }

        var ex = Assert.Throws<OptionsValidationException>(() => Options(settings));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Files_that_are_not_certificates_are_refused_with_the_reason()
    {
        var garbage = Path.Combine(_directory, "garbage.pem");
        File.WriteAllText(garbage, "not a certificate");
        var settings = ValidSettings();
        settings["Agent:Broker:Tls:Enabled"] = "true";
        settings["Agent:Broker:Tls:CaFile"] = garbage;
        settings["Agent:Broker:Tls:ClientCertificateFile"] = garbage;

        var ex = Assert.Throws<OptionsValidationException>(() => Options(settings));

        Assert.Contains($"Agent:Broker:Tls:CaFile '{garbage}' is not a PEM certificate", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"Agent:Broker:Tls:ClientCertificateFile '{garbage}' cannot be loaded", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_without_its_key_is_refused()
    {
        using var ca = MakeCa();
        var (certificate, _) = WriteClient(ca, "pi-01");
        var settings = ValidSettings();
        settings["Agent:Broker:Tls:Enabled"] = "true";
        settings["Agent:Broker:Tls:ClientCertificateFile"] = certificate;

        var ex = Assert.Throws<OptionsValidationException>(() => Options(settings));
        Assert.Contains("ClientCertificateFile", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Password_pem_and_pfx_identities_are_accepted()
    {
        using var ca = MakeCa();
        var caFile = Path.Combine(_directory, "ca.crt");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        var (certificate, key) = WriteClient(ca, "pi-01");
        var pfx = Path.Combine(_directory, "pi-01.pfx");
        using (var loaded = X509Certificate2.CreateFromPemFile(certificate, key))
        {
            File.WriteAllBytes(pfx, loaded.Export(X509ContentType.Pkcs12, "pfx-pw"));
        }

        var password = ValidSettings();
        password["Agent:Broker:Username"] = "pi-01";
        password["Agent:Broker:Password"] = "pw";
        Assert.Equal("pi-01", Options(password).Broker.Username);

        var pem = ValidSettings();
        pem["Agent:Broker:Tls:Enabled"] = "true";
        pem["Agent:Broker:Tls:CaFile"] = caFile;
        pem["Agent:Broker:Tls:ClientCertificateFile"] = certificate;
        pem["Agent:Broker:Tls:ClientKeyFile"] = key;
        var tls = Options(pem).Broker.Tls;
        Assert.True(tls.CheckServerName);
        using (var loaded = BrokerIdentity.LoadClientCertificate(tls))
        {
            Assert.True(loaded.HasPrivateKey);
            Assert.Equal("CN=pi-01", loaded.Subject);
        }

        var pkcs12 = ValidSettings();
        pkcs12["Agent:Broker:Tls:Enabled"] = "true";
        pkcs12["Agent:Broker:Tls:ClientCertificateFile"] = pfx;
        pkcs12["Agent:Broker:Tls:ClientCertificatePassword"] = "pfx-pw";
        Assert.Equal(pfx, Options(pkcs12).Broker.Tls.ClientCertificateFile);
    }

    [Fact]
    public void The_broker_certificate_must_chain_to_the_configured_ca_and_name_the_host()
    {
        using var ca = MakeCa();
        using var otherCa = MakeCa();
        using var server = Issue(ca, "CN=broker.example", "broker.example");
        using var impostor = Issue(otherCa, "CN=broker.example", "broker.example");
        var trusted = new X509Certificate2Collection(X509CertificateLoader.LoadCertificate(ca.RawData));

        // The platform reports chain errors for a private CA; the name check is the platform's, passed through.
        Assert.True(BrokerIdentity.ValidateServerCertificate(server, SslPolicyErrors.RemoteCertificateChainErrors, trusted, checkServerName: true));
        Assert.False(BrokerIdentity.ValidateServerCertificate(impostor, SslPolicyErrors.RemoteCertificateChainErrors, trusted, checkServerName: true));
        Assert.False(BrokerIdentity.ValidateServerCertificate(
            server, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch, trusted, checkServerName: true));
        Assert.True(BrokerIdentity.ValidateServerCertificate(
            server, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch, trusted, checkServerName: false));
        Assert.False(BrokerIdentity.ValidateServerCertificate(null, SslPolicyErrors.RemoteCertificateNotAvailable, trusted, checkServerName: true));

        // Without a CA file the system store decides: any reported error refuses.
        Assert.False(BrokerIdentity.ValidateServerCertificate(server, SslPolicyErrors.RemoteCertificateChainErrors, null, checkServerName: true));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static EdgeAgentOptions Options(Dictionary<string, string?> settings)
    {
        using var host = EdgeAgentHost.Build([], settings);
        return host.Services.GetRequiredService<IOptions<EdgeAgentOptions>>().Value;
    }

    private Dictionary<string, string?> ValidSettings() => new()
    {
        ["Agent:DeviceId"] = "pi-01",
        ["Agent:ModelPath"] = Path.Combine(_directory, "model.onnx"),
        ["Agent:StateDirectory"] = Path.Combine(_directory, "state"),
        ["Agent:Source:Folder"] = _directory,
    };

    private (string Certificate, string Key) WriteClient(X509Certificate2 ca, string device)
    {
        using var client = Issue(ca, "CN=" + device, null);
        var certificate = Path.Combine(_directory, device + ".crt");
        var key = Path.Combine(_directory, device + ".key");
        File.WriteAllText(certificate, client.ExportCertificatePem());
        File.WriteAllText(key, client.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        return (certificate, key);
    }

    private static X509Certificate2 MakeCa()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=Test CA " + Guid.NewGuid().ToString("N")[..6], key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string subject, string? dnsName)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (dnsName is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName(dnsName);
            request.CertificateExtensions.Add(names.Build());
        }

        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), Guid.NewGuid().ToByteArray()[..8]);
        return issued.CopyWithPrivateKey(key);
    }
}
