namespace JailShim.Runtime.Images;

/// <summary>
/// The run defaults an image carries (the OCI image config's <c>config</c>
/// object). Entrypoint and Cmd stay null when the image leaves them unset:
/// CRI merges a container's command with them, and "unset" differs from "empty".
/// </summary>
public sealed record ImageConfig
{
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    public string? WorkingDir { get; init; }
    public string? User { get; init; }
    public string? StopSignal { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}
