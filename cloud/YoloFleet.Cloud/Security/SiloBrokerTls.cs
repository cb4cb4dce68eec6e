using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using YoloFleet.Contracts.Security;

namespace YoloFleet.Cloud.Security;

/// <summary>Configuration section "Cloud:Mqtt:Tls": TLS from the silo to an external broker (production mosquitto's silo listener).</summary>
public sealed class SiloBrokerTlsOptions
{
    public bool Enabled { get; set; }

    /// <summary>PEM CA bundle that signed the broker's certificate; unset: the system trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>Check that the broker's certificate names Cloud:Mqtt:Host (or <see cref="ServerName"/>).</summary>
    public bool CheckServerName { get; set; } = true;

    public string? ServerName { get; set; }

    /// <summary>A problem naming the setting, or null.</summary>
    public string? Problem() =>
        !Enabled && !string.IsNullOrEmpty(CaFile) ? "Cloud:Mqtt:Tls:CaFile is set but Cloud:Mqtt:Tls:Enabled is false."
        : Enabled && !string.IsNullOrEmpty(CaFile) && !File.Exists(CaFile) ? $"Cloud:Mqtt:Tls:CaFile '{CaFile}' does not exist."
        : null;
}

/// <summary>Applies <see cref="SiloBrokerTlsOptions"/> to the silo's MQTT client options.</summary>
public static class SiloBrokerTls
{
    public static MqttClientOptionsBuilder Apply(MqttClientOptionsBuilder builder, SiloBrokerTlsOptions tls, string host)
    {
        if (!tls.Enabled)
        {
            return builder;
        }

        if (tls.Problem() is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        var ca = string.IsNullOrEmpty(tls.CaFile) ? null : BrokerCertificateTrust.LoadCa(tls.CaFile);

        return builder.WithTlsOptions(o => o
            .UseTls()
            .WithTargetHost(string.IsNullOrEmpty(tls.ServerName) ? host : tls.ServerName)
            .WithCertificateValidationHandler(e => Validate(e.Certificate, e.SslPolicyErrors, ca, tls.CheckServerName)));
    }

    /// <summary>The broker's certificate must chain to <paramref name="ca"/> (or the system store) and, unless turned off, name the host.</summary>
    public static bool Validate(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? ca, bool checkServerName) =>
        BrokerCertificateTrust.Validate(certificate, errors, ca, checkServerName);
}
