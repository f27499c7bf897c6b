using System.Text.Json.Serialization;

namespace JailShim.Runtime.Images;

/// <summary>An OCI content descriptor: what a blob is, where (digest) and how big.</summary>
internal sealed record OciDescriptor(
    [property: JsonPropertyName("mediaType")] string MediaType,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("size")] long Size);
