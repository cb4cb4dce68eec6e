using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using YoloFleet.Cloud.Security;

namespace YoloFleet.Cloud.Tests;

/// <summary>The password file format is mosquitto_passwd's: lines made by the real tool verify, and ours are the same shape.</summary>
public sealed class CredentialTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("yf-cred-").FullName;

    [Fact]
    public async Task A_line_made_by_the_real_mosquitto_passwd_verifies_with_its_password_only()
    {
        var file = Path.Combine(_directory, "passwd");
        await MosquittoPasswdAsync("-c", "-b", file, "pi-07", "correct horse");
        await MosquittoPasswdAsync("-b", file, "yolofleet-cloud", "s1lo-påss");

        var passwords = PasswordFile.Load(file);

        Assert.Equal(2, passwords.Count);
        Assert.StartsWith("pi-07:$7$101$", File.ReadAllLines(file)[0], StringComparison.Ordinal);
        Assert.True(passwords.Verify("pi-07", "correct horse"));
        Assert.True(passwords.Verify("yolofleet-cloud", "s1lo-påss"));
        Assert.False(passwords.Verify("pi-07", "correct horse "));
        Assert.False(passwords.Verify("pi-07", "s1lo-påss"));
        Assert.False(passwords.Verify("pi-08", "correct horse"));
        Assert.False(passwords.Verify(null, "correct horse"));
    }

    [Fact]
    public void Our_lines_have_mosquitto_passwds_shape_and_verify()
    {
        var line = PasswordFile.CreateLine("pi-01", "pw");
        var parts = line.Split('$');

        Assert.Equal(["pi-01:", "7", "101"], parts[..3]);
        Assert.Equal(12, Convert.FromBase64String(parts[3]).Length);
        Assert.Equal(64, Convert.FromBase64String(parts[4]).Length);
        Assert.True(PasswordFile.Parse([line]).Verify("pi-01", "pw"));
        Assert.NotEqual(line, PasswordFile.CreateLine("pi-01", "pw"));
    }

    [Fact]
    public void The_older_sha512_format_verifies_too()
    {
        var salt = "c2FsdHNhbHRzYWx0"u8.ToArray();
        var saltBytes = Convert.FromBase64String(System.Text.Encoding.ASCII.GetString(salt));
        var hash = SHA512.HashData([.. "pw"u8.ToArray(), .. saltBytes]);
        var line = $"old-pi:$6${Convert.ToBase64String(saltBytes)}${Convert.ToBase64String(hash)}";

        var passwords = PasswordFile.Parse([line]);

        Assert.True(passwords.Verify("old-pi", "pw"));
        Assert.False(passwords.Verify("old-pi", "pW"));
    }

    [Theory]
    [InlineData("pi-01:plaintext")]
    [InlineData("pi-01:$7$abc$c2FsdA==$aGFzaA==")]
    [InlineData("pi-01:$7$2000000000$c2FsdA==$aGFzaA==")]
    [InlineData("pi-01:$7$101$not base64$aGFzaA==")]
    [InlineData("no colon here")]
    public void A_malformed_line_is_refused_with_its_line_number(string bad)
    {
        var ex = Assert.Throws<FormatException>(() => PasswordFile.Parse(["# comment", "", PasswordFile.CreateLine("ok", "pw"), bad], "passwd"));
        Assert.Contains("passwd line 4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_or_missing_password_file_stops_the_silo_at_start_and_names_the_setting()
    {
        var file = Path.Combine(_directory, "bad-passwd");
        File.WriteAllLines(file, [PasswordFile.CreateLine("pi-01", "pw"), "pi-02:plaintext"]);

        var malformed = Assert.Throws<OptionsValidationException>(() => SecurityOptionsOf(file));
        var missing = Assert.Throws<OptionsValidationException>(() => SecurityOptionsOf(file + ".nope"));

        Assert.Contains("Cloud:Security:PasswordFile", malformed.Message, StringComparison.Ordinal);
        Assert.Contains("line 2 (user 'pi-02')", malformed.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_names_the_file_and_the_fix()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => PasswordFile.Load(Path.Combine(_directory, "nope")));
        Assert.Contains("mosquitto_passwd", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_silos_broker_tls_settings_are_checked_and_its_trust_rules_hold()
    {
        Assert.Contains("Cloud:Mqtt:Tls:Enabled is false", new SiloBrokerTlsOptions { CaFile = "/x.crt" }.Problem(), StringComparison.Ordinal);
        Assert.Contains("'/nonexistent.crt' does not exist", new SiloBrokerTlsOptions { Enabled = true, CaFile = "/nonexistent.crt" }.Problem(), StringComparison.Ordinal);
        Assert.Null(new SiloBrokerTlsOptions { Enabled = true }.Problem());

        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest(
            "CN=silo test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest(
            "CN=broker", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
        using var selfSigned = serverRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
        var trusted = new X509Certificate2Collection(
            X509CertificateLoader.LoadCertificate(ca.RawData));
        var chainErrors = SslPolicyErrors.RemoteCertificateChainErrors;
        var nameMismatch = SslPolicyErrors.RemoteCertificateNameMismatch;

        Assert.True(SiloBrokerTls.Validate(server, chainErrors, trusted, checkServerName: true));
        Assert.False(SiloBrokerTls.Validate(selfSigned, chainErrors, trusted, checkServerName: true));
        Assert.False(SiloBrokerTls.Validate(server, chainErrors | nameMismatch, trusted, checkServerName: true));
        Assert.True(SiloBrokerTls.Validate(server, chainErrors | nameMismatch, trusted, checkServerName: false));
        Assert.False(SiloBrokerTls.Validate(server, chainErrors, null, checkServerName: true));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static BrokerSecurityOptions SecurityOptionsOf(string passwordFile)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection([new("Cloud:Security:PasswordFile", passwordFile)]);
        builder.AddFleetSecurity();
        using var app = builder.Build();
        return app.Services.GetRequiredService<IOptions<BrokerSecurityOptions>>().Value;
    }

    private static async Task MosquittoPasswdAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("mosquitto_passwd") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("mosquitto_passwd is not installed: run deploy/install-deps.sh (Debian package mosquitto).", ex);
        }

        using (process)
        {
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"mosquitto_passwd failed: {error}");
        }
    }
}
