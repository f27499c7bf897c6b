using System.Text.Json.Serialization;

namespace JailShim.Runtime.Images.Registry;

/// <summary>
/// What a registry answers for /v2/NAME/manifests/REF, read leniently: an image manifest
/// (Docker schema 2 or OCI: config + layers) or a list of them (Docker manifest list or
/// OCI index: manifests, each with its platform).
/// </summary>
internal sealed record ManifestDocument
{
    [JsonPropertyName("schemaVersion")] public int? SchemaVersion { get; init; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("config")] public RegistryDescriptor? Config { get; init; }
    [JsonPropertyName("layers")] public List<RegistryDescriptor>? Layers { get; init; }
    [JsonPropertyName("manifests")] public List<RegistryDescriptor>? Manifests { get; init; }
}

/// <summary>An OCI descriptor as registries write them, with the optional parts a pull looks at.</summary>
internal sealed record RegistryDescriptor
{
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("digest")] public string? Digest { get; init; }
    [JsonPropertyName("size")] public long Size { get; init; }
    [JsonPropertyName("platform")] public RegistryPlatform? Platform { get; init; }
    [JsonPropertyName("urls")] public List<string>? Urls { get; init; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; init; }
}

internal sealed record RegistryPlatform
{
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    [JsonPropertyName("os")] public string? Os { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }

    public override string ToString() => $"{Os}/{Architecture}{(string.IsNullOrEmpty(Variant) ? "" : "/" + Variant)}";
}

/// <summary>A token server's answer (Docker's "token" or OAuth2's "access_token").</summary>
internal sealed record TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; init; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; init; }
}

/// <summary>The distribution spec's error body: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}.</summary>
internal sealed record RegistryErrorBody
{
    [JsonPropertyName("errors")] public List<RegistryError>? Errors { get; init; }

    internal sealed record RegistryError
    {
        [JsonPropertyName("code")] public string? Code { get; init; }
        [JsonPropertyName("message")] public string? Message { get; init; }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, AllowTrailingCommas = false)]
[JsonSerializable(typeof(ManifestDocument))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(RegistryErrorBody))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
