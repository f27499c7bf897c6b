using System.Text.Json.Serialization;

namespace JailShim.Runtime.Images;

/// <summary>The parts of an OCI image config blob the runtime reads. Field names are the spec's (Docker's capitalised ones).</summary>
internal sealed record OciImageConfigFile
{
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    [JsonPropertyName("os")] public string? Os { get; init; }
    [JsonPropertyName("config")] public RunConfig? Config { get; init; }
    [JsonPropertyName("rootfs")] public RootFs? Rootfs { get; init; }

    internal sealed record RunConfig
    {
        [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; init; }
        [JsonPropertyName("Cmd")] public List<string>? Cmd { get; init; }
        [JsonPropertyName("Env")] public List<string>? Env { get; init; }
        [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; init; }
        [JsonPropertyName("User")] public string? User { get; init; }
        [JsonPropertyName("StopSignal")] public string? StopSignal { get; init; }
        [JsonPropertyName("Labels")] public Dictionary<string, string>? Labels { get; init; }
    }

    internal sealed record RootFs
    {
        [JsonPropertyName("type")] public string? Type { get; init; }
        [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; init; }
    }

    public ImageConfig ToImageConfig() => new()
    {
        Entrypoint = Config?.Entrypoint,
        Cmd = Config?.Cmd,
        Env = Config?.Env ?? [],
        WorkingDir = string.IsNullOrEmpty(Config?.WorkingDir) ? null : Config.WorkingDir,
        User = string.IsNullOrEmpty(Config?.User) ? null : Config.User,
        StopSignal = string.IsNullOrEmpty(Config?.StopSignal) ? null : Config.StopSignal,
        Labels = Config?.Labels ?? new Dictionary<string, string>(),
    };
}
