namespace YoloFleet.Cloud.Registry.Models;

/// <summary>What kind of refusal a registry operation met; the HTTP API maps it to a status code.</summary>
public enum RegistryErrorKind
{
    /// <summary>The request is wrong (a model that contradicts its manifest, a bad name): 400.</summary>
    Invalid,

    /// <summary>No such model, version, job or device: 404.</summary>
    NotFound,

    /// <summary>The request conflicts with what is stored: 409.</summary>
    Conflict,

    /// <summary>The upload is larger than Cloud:Models:MaxUploadBytes: 413.</summary>
    TooLarge,

    /// <summary>The silo cannot do it as configured (a signing key or token secret it cannot read or make): 503.</summary>
    Unavailable,
}

/// <summary>A registry operation refused, with a message that names the problem and, where there is one, the fix.</summary>
public sealed class ModelRegistryException(RegistryErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public RegistryErrorKind Kind { get; } = kind;
}
