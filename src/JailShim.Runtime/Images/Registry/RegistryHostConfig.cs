namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// The daemon's settings for one registry host, as containerd and CRI-O users write them:
/// mirrors tried in order before the registry itself, plain HTTP, and credentials.
/// </summary>
public sealed record RegistryHostConfig
{
    /// <summary>The registry as image names spell it: "docker.io", "registry.k8s.io", "127.0.0.1:5000".</summary>
    public required string Host { get; init; }

    /// <summary>Endpoints serving the same repositories ("http://127.0.0.1:5000", "mirror.example:443"), tried in order; the host itself is tried last.</summary>
    public IReadOnlyList<string> Mirrors { get; init; } = [];

    /// <summary>Talk plain HTTP to this host (used when it is pulled from directly, or as a mirror of another).</summary>
    public bool Insecure { get; init; }

    /// <summary>Credentials for this host, used when a pull brings none of its own for it.</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    public override string ToString() =>
        $"{Host} (mirrors [{string.Join(", ", Mirrors)}], insecure {Insecure}, {(Username is null ? "no credentials" : "user " + Username)})";
}
