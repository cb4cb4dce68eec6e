using System.ComponentModel.DataAnnotations;

namespace YoloFleet.Cloud;

/// <summary>Configuration section "Cloud". Validated at start: a wrong setting stops the silo with its name.</summary>
public sealed class CloudOptions : IValidatableObject
{
    public const string Section = "Cloud";

    [Required(ErrorMessage = "Cloud:Database is required: an Npgsql connection string, e.g. Host=127.0.0.1;Port=55432;Username=postgres;Database=yolofleet")]
    public string Database { get; set; } = "";

    [Required]
    public MqttConnectionOptions Mqtt { get; set; } = new();

    public EmbeddedBrokerOptions EmbeddedBroker { get; set; } = new();

    public IngestOptions Ingest { get; set; } = new();

    public SiloOptions Silo { get; set; } = new();

    public Ingest.RegistryOptions Registry { get; set; } = new();

    public Ingest.RetentionOptions Retention { get; set; } = new();

    public Verification.VerifierOptions Verifier { get; set; } = new();

    /// <summary>
    /// The silo's own files: the manifest signing key, the download token secret and the artifacts, unless
    /// Cloud:Models names other places. Default: systemd's $STATE_DIRECTORY (StateDirectory=yolofleet-silo), else
    /// /var/lib/yolofleet-silo. Made on first use, owner-only.
    /// </summary>
    public string StateDirectory { get; set; } =
        Environment.GetEnvironmentVariable("STATE_DIRECTORY")?.Split(':')[0] is { Length: > 0 } systemd ? systemd : "/var/lib/yolofleet-silo";

    public Delivery.DeliveryOptions Delivery { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Every nested section, at any depth (YoloFleet.Contracts.Configuration, shared with the agent).
        return YoloFleet.Contracts.Configuration.NestedOptionsValidator.ValidateSections(this, Section);
    }
}

public sealed class MqttConnectionOptions
{
    [Required]
    public string Host { get; set; } = "127.0.0.1";

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    public string? Username { get; set; }

    /// <summary>TLS to the broker (Cloud:Mqtt:Tls); see Security/SiloBrokerTls.cs and docs/security.md.</summary>
    public YoloFleet.Cloud.Security.SiloBrokerTlsOptions Tls { get; set; } = new();

    public string? Password { get; set; }

    /// <summary>
    /// The shared-subscription group of this cloud's silos. Every message goes to one member of the group; two clouds
    /// on one broker (say staging and production) need different groups.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "Cloud:Mqtt:ShareGroup must be 1-64 letters, digits, '_', '-' or '.'.")]
    public string ShareGroup { get; set; } = YoloFleet.Contracts.Topics.CloudShareGroup;

    /// <summary>Client id prefix; the silo name is appended so each silo has its own session.</summary>
    public string ClientIdPrefix { get; set; } = "yolofleet-silo";

    /// <summary>How many unacknowledged messages the broker may have in flight to this silo (MQTT 5 receive maximum).</summary>
    [Range(1, 65535)]
    public int ReceiveMaximum { get; set; } = 4096;
}

public sealed class EmbeddedBrokerOptions
{
    /// <summary>Run an MQTTnet broker inside this process (single-machine and demo use).</summary>
    public bool Enabled { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>
    /// Queued QoS 1 messages per client before MQTTnet drops the oldest. Its default (1000) loses messages in a burst,
    /// so the default here is large; memory is bounded by this times the largest payload.
    /// </summary>
    [Range(1000, int.MaxValue)]
    public int MaxPendingMessagesPerClient { get; set; } = 250_000;
}

public sealed class IngestOptions
{
    [Range(1, 100_000)]
    public int MaxBatchFrames { get; set; } = 2000;

    [Range(1, 10_000)]
    public int MaxBatchDelayMs { get; set; } = 50;

    /// <summary>Batches written at once, each on its own connection, so collecting and copying overlap the database's merge.</summary>
    [Range(1, 16)]
    public int MaxConcurrentWrites { get; set; } = 2;

    /// <summary>Frames waiting for the writer; when full, the MQTT receive loop waits (back-pressure), nothing is dropped.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 20_000;

    /// <summary>
    /// How often device grains hear what committed (one call per device per interval); 0 tells them after every batch.
    /// Grain counters and last-seen lag the database by up to this much.
    /// </summary>
    [Range(0, 60_000)]
    public int GrainUpdateIntervalMs { get; set; } = 1000;
}

public enum ClusteringMode
{
    /// <summary>All silos on this machine; membership lives in the primary silo (demo, tests, a single host).</summary>
    Localhost,

    /// <summary>Membership in Redis, shared by every silo: any silo can die and the rest carry on.</summary>
    Redis,
}

public sealed class SiloOptions : IValidatableObject
{
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;

    /// <summary>StackExchange.Redis configuration for Redis clustering, e.g. "127.0.0.1:6379".</summary>
    public string? Redis { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Clustering == ClusteringMode.Redis && string.IsNullOrWhiteSpace(Redis))
        {
            yield return new ValidationResult(
                "Cloud:Silo:Redis is required when Cloud:Silo:Clustering is Redis (e.g. 127.0.0.1:6379).", [nameof(Redis)]);
        }

        if (Uri.CheckHostName(AdvertisedAddress) is UriHostNameType.Unknown or UriHostNameType.Basic)
        {
            yield return new ValidationResult(
                $"Cloud:Silo:AdvertisedAddress '{AdvertisedAddress}' is neither an IP address nor a host name.", [nameof(AdvertisedAddress)]);
        }
    }

    /// <summary>
    /// With Redis clustering, the address the other silos reach this one at: an IP address, or a host name resolved at
    /// start (a container's own name in docker-compose.yml). Not loopback, the silo listens on every address.
    /// </summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>The advertised address as an IP address (the host name's first IPv4 address, else its first).</summary>
    public System.Net.IPAddress ResolveAdvertisedAddress()
    {
        if (System.Net.IPAddress.TryParse(AdvertisedAddress, out var address))
        {
            return address;
        }

        var addresses = System.Net.Dns.GetHostAddresses(AdvertisedAddress);
        return addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new InvalidOperationException($"Cloud:Silo:AdvertisedAddress '{AdvertisedAddress}' resolves to no address.");
    }

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The primary silo's endpoint port for localhost clustering (the first silo's SiloPort).</summary>
    [Range(1, 65535)]
    public int PrimarySiloPort { get; set; } = 11111;

    public string ClusterId { get; set; } = "yolofleet";

    public string ServiceId { get; set; } = "yolofleet";
}
