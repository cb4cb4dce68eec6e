namespace YoloFleet.EdgeAgent.Identity;

/// <summary>Configuration section "Agent:Broker:Tls": TLS to the broker, and optionally a client certificate as the device's identity.</summary>
public sealed class BrokerTlsOptions
{
    /// <summary>Speak TLS to the broker (production: mosquitto on 8883).</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// PEM file of the CA that signed the broker's certificate. Unset: the operating system's trust store. When set, only
    /// this CA is trusted.
    /// </summary>
    public string? CaFile { get; set; }

    /// <summary>The device's client certificate: PEM (with <see cref="ClientKeyFile"/>, or the key in the same file) or PFX/PKCS#12.</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/> (unset: the key is in the certificate file).</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>Password of a PFX file or of an encrypted PEM key.</summary>
    public string? ClientCertificatePassword { get; set; }

    /// <summary>Check that the broker's certificate names the host we connect to. Turn off only for a lab broker reached by IP.</summary>
    public bool CheckServerName { get; set; } = true;

    /// <summary>The name expected in the broker's certificate when it differs from Agent:Broker:Host.</summary>
    public string? ServerName { get; set; }
}
