using System.Text.Json.Serialization;

namespace JailShim.Runtime.Images;

/// <summary>An OCI image manifest (schema 2): one config blob and the layer blobs, bottom first.</summary>
internal sealed record OciManifest
{
    public const string ManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.oci.image.config.v1+json";
    public const string LayerTarMediaType = "application/vnd.oci.image.layer.v1.tar";

    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; } = 2;
    [JsonPropertyName("mediaType")] public string MediaType { get; init; } = ManifestMediaType;
    [JsonPropertyName("config")] public required OciDescriptor Config { get; init; }
    [JsonPropertyName("layers")] public required IReadOnlyList<OciDescriptor> Layers { get; init; }
}
