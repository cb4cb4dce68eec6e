using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using YoloFleet.Cloud.Net;

namespace YoloFleet.Integration.Tests;

/// <summary>
/// A production-like mosquitto of the test's own: no anonymous clients, a password file made with the real
/// mosquitto_passwd, the repository's deploy/mosquitto/production.acl, and (when openssl is present) a TLS listener
/// that requires a client certificate and takes its CN as the user name. Certificates are generated into a temp
/// directory: a throwaway CA, a server certificate for "localhost" only, and client certificates per device.
/// </summary>
public sealed class SecurityMosquitto : IAsyncLifetime
{
    public const string CloudUser = "yolofleet-cloud";
    public const string CloudPassword = "cloud-secret";

    private readonly Dictionary<string, string> _passwords = new(StringComparer.Ordinal)
    {
        [CloudUser] = CloudPassword,
        ["sec-pi-a"] = "pw-a",
        ["sec-pi-b"] = "pw-b",
        ["sec-agent"] = "pw-agent",
    };

    private Process? _process;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("yf-secmqtt-").FullName;

    /// <summary>The devices' password listener: use_username_as_clientid, as in production.conf.</summary>
    public int Port { get; private set; }

    /// <summary>The silos' listener (production: firewalled to the cloud network), where each silo keeps its own client id.</summary>
    public int CloudPort { get; private set; }

    /// <summary>The silos' TLS listener (no client certificate); 0 when openssl is not installed.</summary>
    public int CloudTlsPort { get; private set; }

    /// <summary>The TLS listener's port; 0 when openssl is not installed.</summary>
    public int TlsPort { get; private set; }

    public string CaFile => Path.Combine(Directory, "ca.crt");

    public string PasswordFile => Path.Combine(Directory, "passwd");

    public string Password(string user) => _passwords[user];

    public async Task InitializeAsync()
    {
        Port = LoopbackPorts.GetFree();
        CloudPort = LoopbackPorts.GetFree();
        var first = true;
        foreach (var (user, password) in _passwords)
        {
            await RunAsync("mosquitto_passwd", first ? ["-c", "-b", PasswordFile, user, password] : ["-b", PasswordFile, user, password]);
            first = false;
        }

        var config = new StringBuilder();
        config.AppendLine("per_listener_settings false");
        config.AppendLine("allow_anonymous false");
        config.AppendLine(CultureInfo.InvariantCulture, $"password_file {PasswordFile}");
        config.AppendLine(CultureInfo.InvariantCulture, $"acl_file {Path.Combine(RepositoryRoot(), "deploy", "mosquitto", "production.acl")}");
        config.AppendLine("persistence false");
        config.AppendLine(CultureInfo.InvariantCulture, $"user {Environment.UserName}");
        config.AppendLine(CultureInfo.InvariantCulture, $"log_dest file {Path.Combine(Directory, "mosquitto.log")}");
        config.AppendLine("log_type all");
        config.AppendLine(CultureInfo.InvariantCulture, $"listener {Port} 127.0.0.1");
        config.AppendLine("use_username_as_clientid true");
        config.AppendLine(CultureInfo.InvariantCulture, $"listener {CloudPort} 127.0.0.1");
        if (await HasOpenSslAsync())
        {
            TlsPort = LoopbackPorts.GetFree();
            await MakeCertificatesAsync();
            config.AppendLine(CultureInfo.InvariantCulture, $"listener {TlsPort} 127.0.0.1");
            config.AppendLine(CultureInfo.InvariantCulture, $"cafile {CaFile}");
            config.AppendLine(CultureInfo.InvariantCulture, $"certfile {Path.Combine(Directory, "server.crt")}");
            config.AppendLine(CultureInfo.InvariantCulture, $"keyfile {Path.Combine(Directory, "server.key")}");
            config.AppendLine("tls_version tlsv1.2");
            config.AppendLine("require_certificate true");
            config.AppendLine("use_identity_as_username true");
            config.AppendLine("use_username_as_clientid true");
            CloudTlsPort = LoopbackPorts.GetFree();
            config.AppendLine(CultureInfo.InvariantCulture, $"listener {CloudTlsPort} 127.0.0.1");
            config.AppendLine(CultureInfo.InvariantCulture, $"cafile {CaFile}");
            config.AppendLine(CultureInfo.InvariantCulture, $"certfile {Path.Combine(Directory, "server.crt")}");
            config.AppendLine(CultureInfo.InvariantCulture, $"keyfile {Path.Combine(Directory, "server.key")}");
            config.AppendLine("tls_version tlsv1.2");
        }

        var configFile = Path.Combine(Directory, "mosquitto.conf");
        await File.WriteAllTextAsync(configFile, config.ToString());
        var start = new ProcessStartInfo("mosquitto") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(configFile);
        _process = Process.Start(start) ?? throw new InvalidOperationException("mosquitto did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        foreach (var port in new[] { Port, CloudPort, TlsPort, CloudTlsPort }.Where(p => p > 0))
        {
            var up = await Infrastructure.Poll.UntilAsync(
                async () => _process.HasExited ? -1 : await CanConnectAsync(port) ? 1 : 0, n => n != 0, TimeSpan.FromSeconds(10));
            if (up != 1)
            {
                throw new InvalidOperationException($"mosquitto did not come up on port {port}: {Log()}");
            }
        }
    }

    /// <summary>A client certificate and key (PEM) signed by the test CA with <paramref name="commonName"/> as its CN.</summary>
    public async Task<(string Certificate, string Key)> MakeClientCertificateAsync(string commonName)
    {
        var key = Path.Combine(Directory, commonName + ".key");
        var csr = Path.Combine(Directory, commonName + ".csr");
        var certificate = Path.Combine(Directory, commonName + ".crt");
        await RunAsync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + commonName]);
        await RunAsync("openssl", ["x509", "-req", "-in", csr, "-CA", CaFile, "-CAkey", Path.Combine(Directory, "ca.key"), "-CAcreateserial",
            "-out", certificate, "-days", "2", "-sha256"]);
        return (certificate, key);
    }

    public string Log() => File.Exists(Path.Combine(Directory, "mosquitto.log")) ? File.ReadAllText(Path.Combine(Directory, "mosquitto.log")) : "(no log)";

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private async Task MakeCertificatesAsync()
    {
        var caKey = Path.Combine(Directory, "ca.key");
        await RunAsync("openssl", ["req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", CaFile, "-days", "2",
            "-subj", "/CN=YoloFleet test CA"]);
        var serverKey = Path.Combine(Directory, "server.key");
        var serverCsr = Path.Combine(Directory, "server.csr");
        var extensions = Path.Combine(Directory, "server.ext");
        await File.WriteAllTextAsync(extensions, "subjectAltName=DNS:localhost\n");
        await RunAsync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", serverKey, "-out", serverCsr, "-subj", "/CN=localhost"]);
        await RunAsync("openssl", ["x509", "-req", "-in", serverCsr, "-CA", CaFile, "-CAkey", caKey, "-CAcreateserial",
            "-out", Path.Combine(Directory, "server.crt"), "-days", "2", "-sha256", "-extfile", extensions]);
    }

    private static async Task<bool> HasOpenSslAsync()
    {
        try
        {
            await RunAsync("openssl", ["version"]);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<bool> CanConnectAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
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
            throw new InvalidOperationException($"{file} is not installed: run deploy/install-deps.sh.", ex);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await output;
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
            }
        }
    }

    /// <summary>The checkout holding YoloFleet.sln: YOLOFLEET_REPO_ROOT, else found upwards from the test.</summary>
    private static string RepositoryRoot()
    {
        if (Environment.GetEnvironmentVariable("YOLOFLEET_REPO_ROOT") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "YoloFleet.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above the test; set YOLOFLEET_REPO_ROOT.");
    }
}
